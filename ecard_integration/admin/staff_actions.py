"""What staff do to the ledger from the transaction admin, each through the services and behind
its own permission: void an approved load or redeem, load a card, look up a balance, find a card
by its full number, and the result page each send redirects to."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.http import SeeOther
from ecard_integration import callers, services, wire
from ecard_integration.admin.display import outcome
from ecard_integration.admin.search import CardFilter, remember_card_search
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.forms import BalanceLookupForm, FindCardForm, LoadCardForm, VoidForm
from ecard_integration.models import (
    IN_FLIGHT_STATES,
    VOID_KIND_FOR,
    EcardTransaction,
    Kind,
    Source,
    State,
)

RESULT_REFRESH_SECONDS = 3
REPEAT_MESSAGE = (
    "This form had already been sent: this is the result of that first send. Nothing was sent "
    "again."
)


class StaffActionsMixin:
    """The staff views of `EcardTransactionAdmin`: its extra URLs and their pages."""

    def has_void_permission(self, request):
        return request.user.has_perm("ecard_integration.void_transaction")

    def has_load_permission(self, request):
        return request.user.has_perm("ecard_integration.load_card")

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

    @staticmethod
    def _refuse(request, permitted: bool) -> HttpResponseNotAllowed | None:
        """403 without the permission, then 405 for anything but a GET (the form) or a POST."""
        if not permitted:
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        return None

    def void_view(self, request, object_id):
        if refused := self._refuse(request, self.has_void_permission(request)):
            return refused
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
            return SeeOther(self._url("result", void_row.pk))
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
        if refused := self._refuse(request, self.has_load_permission(request)):
            return refused
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
                return SeeOther(self._url("result", row.pk))
        return self._render(request, "load_form.html", "Load a card", form=form)

    def balance_view(self, request):
        if refused := self._refuse(request, self.has_view_permission(request)):
            return refused
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
                return SeeOther(self._url("result", row.pk))
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
            context["load_url"] = self._url("load") if self.has_load_permission(request) else ""
            return self._render(request, "load_result.html", "Card load", row=row, **context)
        if row.kind == Kind.BALANCE_INQUIRY:
            context["balance_url"] = self._url("balance")
            return self._render(
                request, "balance_result.html", "Balance lookup", row=row, **context
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
            return SeeOther(changelist)
        token = remember_card_search(request, number)
        return SeeOther(f"{changelist}?{CardFilter.parameter_name}={token}")

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
