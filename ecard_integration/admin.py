"""Staff admin for the eCard ledger.

Ledger rows are read-only here: staff never add, edit or delete them. What staff can do goes
through the services, each behind its own permission: void an approved load or redeem
(`void_transaction`), load a card (`load_card`), look up a balance (`view_ecardtransaction`) and
export certification evidence (`export_evidence`). Card numbers are shown masked everywhere, and
the ciphertexts never.
"""

import re
import secrets
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from ecard_integration import callers, crypto, evidence, services, wire
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.forms import BalanceLookupForm, FindCardForm, LoadCardForm, VoidForm
from ecard_integration.models import (
    IN_FLIGHT_STATES,
    VOID_KIND_FOR,
    EcardExchange,
    EcardTransaction,
    Kind,
    Source,
    State,
)
from ecard_integration.selectors import attention_summary

LAST4 = re.compile(r"[0-9]{4}")
CARD_NUMBER_LIKE = re.compile(r"[0-9]{12,19}")
# The staff session keeps the cards found by full number: an opaque token → the card's keyed hash.
CARD_SEARCHES_SESSION_KEY = "ecard_card_searches"
CARD_SEARCHES_KEPT = 20
RESULT_REFRESH_SECONDS = 3
REPEAT_MESSAGE = (
    "This form had already been sent: this is the result of that first send. Nothing was sent "
    "again."
)


class HttpResponseSeeOther(HttpResponseRedirect):
    """303: the answer to a POST is fetched by GET, so a refresh repeats the GET, not the POST."""

    status_code = 303


def looks_like_card_number(term: str) -> bool:
    """12 to 19 digits once spaces and dashes are dropped: never searched, never echoed."""
    return bool(CARD_NUMBER_LIKE.fullmatch(term.strip().replace(" ", "").replace("-", "")))


def without_param(request, name: str) -> str:
    """The request's path and query string with one parameter dropped."""
    params = request.GET.copy()
    params.pop(name, None)
    query = params.urlencode()
    return f"{request.path}?{query}" if query else request.path


def refuse_card_number_search(model_admin, request) -> HttpResponseRedirect | None:
    """A full card number in a changelist's `?q=` is refused: the address would carry it (it is
    already in the access log; at least no page, link or redirect repeats it)."""
    if not looks_like_card_number(request.GET.get("q", "")):
        return None
    model_admin.message_user(
        request,
        "Card numbers are never searched in the search box, because the page address would "
        "carry the number. Use \u201cFind a card by its full number\u201d on the transaction "
        "list.",
        messages.WARNING,
    )
    return HttpResponseSeeOther(without_param(request, "q"))


ATTENTION_STATES = [State.UNKNOWN, State.NEEDS_ATTENTION]


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now)


def headers_text(headers) -> str:
    if not isinstance(headers, dict):
        return ""
    return "\n".join(f"{key}: {value}" for key, value in headers.items())


def outcome(row: EcardTransaction) -> dict:
    """How a transaction ended, in words for staff: a `status` for styling and a `text`."""
    if row.state in (State.APPROVED, State.VOIDED):
        text = "Approved"
        if row.approval_code:
            text += f", approval code {row.approval_code}"
        return {"status": "approved", "text": text}
    if row.state == State.DECLINED:
        meaning = wire.describe_code(row.response_code)
        return {"status": "declined", "text": f"Declined: {meaning} (code {row.response_code})"}
    if row.state == State.REJECTED:
        return {
            "status": "rejected",
            "text": f"Not processed: eCard refused the request ({row.error_code or 'error'}). "
            "Nothing was charged or loaded.",
        }
    if row.state == State.NEEDS_ATTENTION:
        return {"status": "unknown", "text": f"Needs attention: {row.attention_reason}"}
    if row.state == State.CREATED:
        return {
            "status": "unknown",
            "text": "Being sent to eCard: this page updates by itself.",
        }
    return {
        "status": "unknown",
        "text": "eCard did not answer; reconciliation will finish it.",
    }


class AttentionFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "Unknown or needs attention")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(state__in=ATTENTION_STATES)
        return queryset


class CardFilter(admin.SimpleListFilter):
    """Transactions of one card found by its full number (`find_card_view`): the URL carries an
    opaque token from the staff session, never the number nor its hash."""

    title = "card found by full number"
    parameter_name = "card"

    def lookups(self, request, model_admin):
        found = card_searches(request).get(self.value() or "")
        return [(self.value(), f"\u2022\u2022\u2022\u2022 {found['last4']}")] if found else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        found = card_searches(request).get(self.value())
        return queryset.filter(card_hash=found["hash"]) if found else queryset.none()


def card_searches(request) -> dict:
    return request.session.get(CARD_SEARCHES_SESSION_KEY, {})


class ExchangeInline(admin.StackedInline):
    """Every HTTP exchange of the transaction, as stored: already redacted."""

    model = EcardExchange
    fk_name = "transaction"
    extra = 0
    can_delete = False
    verbose_name = "exchange"
    verbose_name_plural = "exchanges with eCard"
    fields = (
        ("started_at", "duration_ms", "idempotent_replay", "is_reconciliation"),
        "request_shown",
        "response_shown",
        "error",
    )
    readonly_fields = (
        "started_at",
        "duration_ms",
        "idempotent_replay",
        "is_reconciliation",
        "request_shown",
        "response_shown",
        "error",
    )

    def has_view_permission(self, request, obj=None):
        # Whoever may see a transaction may see its exchanges.
        return request.user.has_perm("ecard_integration.view_ecardtransaction")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="request")
    def request_shown(self, exchange):
        return format_html(
            '<pre style="white-space: pre-wrap; word-break: break-all">POST {}\n{}\n\n{}</pre>',
            exchange.url,
            headers_text(exchange.request_headers),
            exchange.request_body,
        )

    @admin.display(description="response")
    def response_shown(self, exchange):
        return format_html(
            '<pre style="white-space: pre-wrap; word-break: break-all">{}\n{}\n\n{}</pre>',
            f"HTTP {exchange.response_status}" if exchange.response_status else "no response",
            headers_text(exchange.response_headers),
            exchange.response_body,
        )


@admin.register(EcardTransaction)
class EcardTransactionAdmin(admin.ModelAdmin):
    list_display = (
        "request_id",
        "created_at",
        "kind",
        "state",
        "source",
        "card",
        "amount",
        "amount_applied",
        "balance",
        "response_code",
        "store_id",
        "requested_by",
        "attention",
        "age",
    )
    list_filter = (CardFilter, AttentionFilter, "kind", "state", "source", "store_id", "created_at")
    search_fields = ("=request_id", "=processor_transaction_id", "=caller_reference")
    search_help_text = (
        "The card's last four digits, a request id, an eCard transaction id or a caller "
        "reference. A full card number goes in \u201cFind a card by its full number\u201d."
    )
    list_select_related = ("requested_by",)
    list_per_page = 100
    actions = ["export_evidence"]
    inlines = [ExchangeInline]
    fieldsets = (
        (
            "Transaction",
            {
                "fields": (
                    "request_id",
                    "kind",
                    "state",
                    "source",
                    "card",
                    "card_hash",
                    "amount",
                    "currency",
                    "store_id",
                    "terminal_id",
                    "caller_reference",
                    "caller_intent",
                    "original",
                )
            },
        ),
        (
            "Outcome",
            {
                "fields": (
                    "response_code",
                    "response_meaning",
                    "response_message",
                    "approval_code",
                    "processor_transaction_id",
                    "amount_applied",
                    "balance",
                    "error_code",
                    "attention_reason",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "first_sent_at",
                    "replay_deadline",
                    "next_attempt_at",
                    "completed_at",
                    "attempts",
                    "request_sha256",
                )
            },
        ),
        ("Staff", {"fields": ("requested_by", "reason")}),
        ("Voids of this transaction", {"fields": ("voids_table",)}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    # --- Read-only ledger -----------------------------------------------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_void_permission(self, request):
        return request.user.has_perm("ecard_integration.void_transaction")

    def has_load_permission(self, request):
        return request.user.has_perm("ecard_integration.load_card")

    def has_export_evidence_permission(self, request):
        return request.user.has_perm("ecard_integration.export_evidence")

    # --- Columns and fields ---------------------------------------------------------------------

    @admin.display(description="card")
    def card(self, obj):
        return obj.card_masked

    @admin.display(description="attention")
    def attention(self, obj):
        if obj.state in ATTENTION_STATES:
            return obj.attention_reason or obj.error_code or obj.get_state_display()
        return ""

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at) if obj.created_at else ""

    @admin.display(description="meaning")
    def response_meaning(self, obj):
        return wire.describe_code(obj.response_code) if obj.response_code else ""

    @admin.display(description="voids")
    def voids_table(self, obj):
        voids = list(obj.voids.select_related("requested_by").order_by("id"))
        if not voids:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:ecard_integration_ecardtransaction_change", args=[void.pk]),
                    void.request_id,
                    localize(timezone.localtime(void.created_at)),
                    void.get_state_display(),
                    outcome(void)["text"],
                    void.requested_by.get_username() if void.requested_by else "",
                    void.reason,
                )
                for void in voids
            ),
        )
        return format_html(
            "<table><tr><th>void</th><th>created</th><th>state</th><th>outcome</th>"
            "<th>by</th><th>reason</th></tr>{}</table>",
            rows,
        )

    # --- Search: last four digits, never a full card number -------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Exact matches, each served by an index (the admin's own `=` search compares
        UPPER(column), which no index serves): a request id, an eCard transaction id, a caller
        reference in any case, or a card's last four digits."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = (
            Q(request_id=term)
            | Q(processor_transaction_id=term)
            | Q(caller_reference__in={term, term.upper()})
        )
        if LAST4.fullmatch(term):
            found |= Q(card_last4=term)
        return queryset.filter(found), False

    # --- Views ----------------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("load/", wrap(self.load_view), name="{}_{}_load".format(*info)),
            path("balance/", wrap(self.balance_view), name="{}_{}_balance".format(*info)),
            path("find-card/", wrap(self.find_card_view), name="{}_{}_find_card".format(*info)),
            path("<path:object_id>/void/", wrap(self.void_view), name="{}_{}_void".format(*info)),
            path(
                "<path:object_id>/result/",
                wrap(self.result_view),
                name="{}_{}_result".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        return reverse(f"admin:ecard_integration_ecardtransaction_{name}", args=args)

    def changelist_view(self, request, extra_context=None):
        redirect = refuse_card_number_search(self, request)
        if redirect is not None:
            return redirect
        token = request.GET.get(CardFilter.parameter_name)
        if token is not None and token not in card_searches(request):
            self.message_user(
                request,
                "That card search is no longer available (it lasts as long as your session). "
                "Find the card by its full number again.",
                messages.WARNING,
            )
            return HttpResponseSeeOther(without_param(request, CardFilter.parameter_name))
        summary = attention_summary()
        context = {
            "attention": summary,
            "oldest_unknown_age": age_text(summary["oldest_unknown_seconds"]),
            "oldest_attention_age": age_text(summary["oldest_attention_seconds"]),
            "attention_url": self._url("changelist") + "?attention=yes",
            "load_url": self._url("load") if self.has_load_permission(request) else "",
            "balance_url": self._url("balance") if self.has_view_permission(request) else "",
            "find_card_url": self._url("find_card") if self.has_view_permission(request) else "",
            "find_card_form": FindCardForm(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None and self.has_void_permission(request) and self.voidable(obj):
            context["void_url"] = self._url("void", obj.pk)
        return super().change_view(request, object_id, form_url, extra_context=context)

    @staticmethod
    def voidable(obj: EcardTransaction) -> bool:
        """An approved load or redeem with no live void (a declined or rejected void may retry)."""
        return (
            obj.state == State.APPROVED
            and obj.kind in VOID_KIND_FOR
            and not obj.voids.live_voids().exists()
        )

    def _render(self, request, template: str, title: str, **context):
        return TemplateResponse(
            request,
            f"admin/ecard_integration/ecardtransaction/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "changelist_url": self._url("changelist"),
                **context,
            },
        )

    # Every staff form that sends to eCard is post/redirect/get with a one-time attempt key: the
    # POST answers 303 to `result_view` (a GET that sends nothing), and the same form sent again
    # finds the first transaction through its key (see `services._attempt_made`).

    def void_view(self, request, object_id):
        if not self.has_void_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        original = self.get_object(request, unquote(object_id))
        if original is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = self._url("change", original.pk)
        form = VoidForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                void_row = services.void(
                    original=original,
                    source=Source.STAFF,
                    requested_by=request.user,
                    reason=reason,
                    attempt_key=form.cleaned_data["attempt_key"],
                )
            except services.NotVoidableError as exc:
                self.message_user(request, f"Not voided: {exc.message}.", messages.ERROR)
                return HttpResponseRedirect(change_url)
            except services.CardBusyError:
                self.message_user(
                    request,
                    "Not voided: another transaction on this card is still in progress. "
                    "Try again in a minute.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(change_url)
            except EcardError as exc:
                self.message_user(request, f"Not voided: {exc.message}", messages.ERROR)
                return HttpResponseRedirect(change_url)
            if getattr(void_row, "is_repeat", False):
                self.message_user(request, REPEAT_MESSAGE, messages.INFO)
            else:
                self.log_change(
                    request,
                    original,
                    f"Void {void_row.request_id} requested ({void_row.get_state_display()}). "
                    f"Reason: {reason}",
                )
            return HttpResponseSeeOther(self._url("result", void_row.pk))
        return self._render(
            request,
            "void_confirm.html",
            "Void this transaction?",
            original=original,
            original_url=change_url,
            voidable=self.voidable(original),
            caller=callers.describe(original.caller_reference),
            form=form,
        )

    def load_view(self, request):
        if not self.has_load_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        form = LoadCardForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                row = services.load(
                    card_number=data["card_number"],
                    amount=data["amount"],
                    source=Source.STAFF,
                    requested_by=request.user,
                    reason=data["note"],
                    attempt_key=data["attempt_key"],
                )
            except EcardError as exc:
                self._form_error(form, exc)
            else:
                if getattr(row, "is_repeat", False):
                    self.message_user(request, REPEAT_MESSAGE, messages.INFO)
                else:
                    self.log_addition(
                        request, row, f"Card load requested ({row.get_state_display()})"
                    )
                return HttpResponseSeeOther(self._url("result", row.pk))
        return self._render(request, "load_form.html", "Load a card", form=form)

    def balance_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        form = BalanceLookupForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                row = services.balance_inquiry(
                    card_number=form.cleaned_data["card_number"],
                    pin=None,
                    source=Source.STAFF,
                    requested_by=request.user,
                    attempt_key=form.cleaned_data["attempt_key"],
                )
            except EcardError as exc:
                self._form_error(form, exc)
            else:
                if getattr(row, "is_repeat", False):
                    self.message_user(request, REPEAT_MESSAGE, messages.INFO)
                # The result page is keyed by the transaction: the card number is in no URL.
                return HttpResponseSeeOther(self._url("result", row.pk))
        return self._render(request, "balance_form.html", "Balance lookup", form=form)

    def result_view(self, request, object_id):
        """What a staff load, balance lookup or void came to: a GET, so a refresh sends nothing.
        While eCard's answer is still awaited the page says so and refreshes itself."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        row = self.get_object(request, unquote(object_id))
        if row is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        context = {
            "outcome": outcome(row),
            "refresh_seconds": RESULT_REFRESH_SECONDS if row.state in IN_FLIGHT_STATES else None,
            "row_url": self._url("change", row.pk),
        }
        if row.kind == Kind.LOAD:
            return self._render(
                request,
                "load_result.html",
                "Card load",
                row=row,
                load_url=self._url("load") if self.has_load_permission(request) else "",
                **context,
            )
        if row.kind == Kind.BALANCE_INQUIRY:
            return self._render(
                request,
                "balance_result.html",
                "Balance lookup",
                row=row,
                balance_url=self._url("balance"),
                **context,
            )
        if row.is_void:
            return self._render(
                request,
                "void_result.html",
                "Void outcome",
                original=row.original,
                original_url=self._url("change", row.original_id),
                void=row,
                void_url=context.pop("row_url"),
                caller=callers.describe(row.original.caller_reference),
                **context,
            )
        return HttpResponseRedirect(self._url("change", row.pk))

    def find_card_view(self, request):
        """Find a card's transactions by its full number: a POST (the number is in no URL) that
        answers 303 to the list filtered by an opaque token kept in the staff session."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = FindCardForm(request.POST)
        changelist = self._url("changelist")
        try:
            if not form.is_valid():
                raise InvalidInput("Enter the card number.", field="card_number")
            number = wire.parse_card_number(form.cleaned_data["card_number"])
        except InvalidInput as exc:
            self.message_user(request, f"No card searched: {exc.message}", messages.ERROR)
            return HttpResponseSeeOther(changelist)
        token = secrets.token_urlsafe(12)
        searches = dict(card_searches(request))
        searches[token] = {"hash": crypto.card_hash(number), "last4": number[-4:]}
        # The newest few only: a session never grows without bound.
        request.session[CARD_SEARCHES_SESSION_KEY] = dict(
            list(searches.items())[-CARD_SEARCHES_KEPT:]
        )
        return HttpResponseSeeOther(f"{changelist}?{CardFilter.parameter_name}={token}")

    @staticmethod
    def _form_error(form, exc: EcardError) -> None:
        if isinstance(exc, services.AttemptKeyReusedError):
            form.add_error(
                None,
                "This form had already been sent for another request, so nothing was sent. "
                "Check the details and send it again to make a new request.",
            )
            form.renew_attempt_key()
        elif isinstance(exc, InvalidInput):
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        elif isinstance(exc, services.CardBusyError):
            form.add_error(
                None,
                "Another transaction on this card is still in progress. Try again in a minute.",
            )
        else:
            form.add_error(None, f"eCard could not be asked: {exc.message}")

    # --- Evidence export ------------------------------------------------------------------------

    @admin.action(
        description="Export certification evidence (ZIP: CSV, JSON, HTML)",
        permissions=["export_evidence"],
    )
    def export_evidence(self, request, queryset):
        pack = evidence.build_evidence(
            queryset.values_list("pk", flat=True),
            full_card_numbers=evidence.is_local_sandbox(),
        )
        stamp = pack.generated_at.strftime("%Y%m%dT%H%M%SZ")
        filename = f"ecard-evidence-{stamp}.zip"
        response = HttpResponse(evidence.pack_zip(pack), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        # Audited per row: who took which transactions out of the system, and when.
        LogEntry.objects.log_actions(
            request.user.pk,
            queryset,
            CHANGE,
            change_message=f"Exported in certification evidence {filename}.",
        )
        return response


@admin.register(EcardExchange)
class EcardExchangeAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "kind",
        "endpoint",
        "request_id",
        "transaction_link",
        "response_status",
        "duration_ms",
        "idempotent_replay",
        "is_reconciliation",
        "error",
    )
    list_filter = ("kind", "endpoint", "response_status", "idempotent_replay", "is_reconciliation")
    search_fields = ("=request_id",)
    list_select_related = ("transaction",)
    fields = (
        "transaction_link",
        "kind",
        "endpoint",
        "request_id",
        "url",
        "started_at",
        "duration_ms",
        "request_headers",
        "request_body",
        "request_sha256",
        "response_status",
        "response_headers",
        "response_body",
        "error",
        "idempotent_replay",
        "is_reconciliation",
    )
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(
            "ecard_integration.view_ecardtransaction"
        )

    def changelist_view(self, request, extra_context=None):
        redirect = refuse_card_number_search(self, request)
        if redirect is not None:
            return redirect
        return super().changelist_view(request, extra_context=extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="transaction")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return ""
        return format_html(
            "<a href='{}'>{}</a>",
            reverse("admin:ecard_integration_ecardtransaction_change", args=[obj.transaction_id]),
            obj.transaction.request_id,
        )
