"""Staff admin: kiosks, their one-time enrollment codes, and PIN throttle blocks (lockouts)."""

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers

from ecard_integration import crypto
from ecard_integration.errors import InvalidInput
from kiosk import services
from kiosk.models import EnrollmentCode, Kiosk
from ordering.pins import lockouts, throttle

# The PIN counters live in the cache: while it is unreachable staff are told so, not shown a 500.
CACHE_DOWN = (
    "The PIN counters cannot be read right now: the cache (Redis) is unreachable. Guests' card "
    "payments are paused meanwhile, and nothing was changed; try again once it is back."
)


class EnrollmentCodeInline(admin.TabularInline):
    """Codes are only listed: their value is shown once, when made, and never stored."""

    model = EnrollmentCode
    fields = ["created_at", "created_by", "expires_at", "used_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Kiosk)
class KioskAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "terminal_id", "active", "enrolled_at", "last_seen_at"]
    list_filter = ["active", "store"]
    search_fields = ["name", "terminal_id"]
    fields = ["name", "store", "terminal_id", "active", "enrolled_at", "last_seen_at", "created_at"]
    readonly_fields = ["enrolled_at", "last_seen_at", "created_at"]
    inlines = [EnrollmentCodeInline]
    actions = ["deactivate", "activate", "sign_out"]
    change_list_template = "kiosk/admin/kiosk_change_list.html"
    change_form_template = "kiosk/admin/kiosk_change_form.html"

    def get_fields(self, request, obj=None):
        # On add these are not known yet (created_at is a database default, shown as an object).
        if obj is None:
            return [field for field in self.fields if field not in self.readonly_fields]
        return super().get_fields(request, obj)

    def get_inlines(self, request, obj):
        return [] if obj is None else super().get_inlines(request, obj)  # no codes before it exists

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("lockouts/", wrap(self.lockouts_view), name="kiosk_kiosk_lockouts"),
            path(
                "<int:kiosk_id>/enrollment-code/",
                wrap(self.enrollment_code_view),
                name="kiosk_kiosk_enrollment_code",
            ),
            path(
                "<int:kiosk_id>/sign-out/",
                wrap(self.sign_out_view),
                name="kiosk_kiosk_sign_out",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_enroll"] = request.user.has_perm("kiosk.enroll_kiosk")
        return super().render_change_form(request, context, *args, **kwargs)

    def changelist_view(self, request, extra_context=None):
        extra = {"lockouts_url": "", "blocked_count": 0, **(extra_context or {})}
        if request.user.has_perm("kiosk.unlock_pin_throttle"):
            extra["lockouts_url"] = reverse("admin:kiosk_kiosk_lockouts")
            try:
                extra["blocked_count"] = len(lockouts.current(blocked_only=True))
            except throttle.CACHE_ERRORS:
                self.message_user(request, CACHE_DOWN, messages.ERROR)
        return super().changelist_view(request, extra)

    # --- actions ---

    @admin.action(description="Disable the selected kiosks (out of service at once)")
    def deactivate(self, request, queryset):
        count = queryset.update(active=False)
        self.message_user(request, f"{count} kiosk(s) disabled.", messages.SUCCESS)

    @admin.action(description="Enable the selected kiosks")
    def activate(self, request, queryset):
        count = queryset.update(active=True)
        self.message_user(request, f"{count} kiosk(s) enabled.", messages.SUCCESS)

    @admin.action(
        description="Sign out the enrolled browsers (they need a new code)",
        permissions=["enroll"],
    )
    def sign_out(self, request, queryset):
        for kiosk in queryset:
            services.sign_out_device(kiosk=kiosk)
        self.message_user(request, f"{queryset.count()} kiosk(s) signed out.", messages.SUCCESS)

    def has_enroll_permission(self, request):
        return request.user.has_perm("kiosk.enroll_kiosk")

    # --- views ---

    def _kiosk(self, request, kiosk_id) -> Kiosk:
        if not self.has_enroll_permission(request):
            raise PermissionDenied
        kiosk = Kiosk.objects.select_related("store").filter(id=kiosk_id).first()
        if kiosk is None:
            raise PermissionDenied
        return kiosk

    def enrollment_code_view(self, request, kiosk_id):
        """POST: make a one-time code and show it, once, with its enrollment link."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:kiosk_kiosk_change", args=[kiosk_id]))
        kiosk = self._kiosk(request, kiosk_id)
        row, code = services.create_enrollment_code(kiosk=kiosk, created_by=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Enrollment code for {kiosk}",
            "kiosk": kiosk,
            "code": services.format_code(code),
            "link": request.build_absolute_uri(reverse("kiosk:enroll_link", args=[code])),
            "expires_at": row.expires_at,
            "valid_for": services.enrollment_expiry_text(row),
        }
        response = TemplateResponse(request, "kiosk/admin/enrollment_code.html", context)
        add_never_cache_headers(response)
        return response

    def sign_out_view(self, request, kiosk_id):
        kiosk = self._kiosk(request, kiosk_id)
        if request.method == "POST":
            services.sign_out_device(kiosk=kiosk)
            self.message_user(
                request,
                f"{kiosk} was signed out: its browser shows the enrollment prompt at its next "
                "request.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:kiosk_kiosk_change", args=[kiosk.id]))

    def lockouts_view(self, request):
        """PIN throttle blocks, from kiosks and online ordering, with an unlock button for each."""
        if not request.user.has_perm("kiosk.unlock_pin_throttle"):
            raise PermissionDenied
        if request.method == "POST":
            try:
                return _unlock(self, request)
            except throttle.CACHE_ERRORS:
                self.message_user(request, CACHE_DOWN, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:kiosk_kiosk_lockouts"))
        try:
            current = lockouts.current()
        except throttle.CACHE_ERRORS:
            current = []
            self.message_user(request, CACHE_DOWN, messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "PIN lockouts",
            "lockouts": current,
            "limits": lockouts.limits_text(),
        }
        response = TemplateResponse(request, "kiosk/admin/lockouts.html", context)
        add_never_cache_headers(response)
        return response


def _unlock(model_admin, request):
    """POST from the lockouts page: clear one listed counter, or a card's by its number. Each
    clearing is audited in the admin log (who, what, when)."""
    back = HttpResponseRedirect(reverse("admin:kiosk_kiosk_lockouts"))
    number = request.POST.get("card_number", "").strip()
    if number:
        try:
            card_number = services.parse_card_entry(number)
        except InvalidInput as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return back
        if lockouts.clear_card(crypto.card_hash(card_number)):
            _audit(request, f"Card •••• {card_number[-4:]}", "card, by its number")
            model_admin.message_user(request, "The card's block was cleared.", messages.SUCCESS)
        else:
            model_admin.message_user(request, "That card had no failed PINs.", messages.INFO)
        return back
    if request.POST.get("ecard_unlocked"):
        # Staff had eCard unlock the card (only eCard can): guests may try it again.
        unlocked = lockouts.ecard_unlocked(request.POST.get("token", ""))
        if unlocked is None:
            model_admin.message_user(request, "That card is no longer listed.", messages.INFO)
        else:
            _audit(request, unlocked.label, "card, unlocked at eCard")
            model_admin.message_user(
                request, f"Noted: eCard unlocked {unlocked.label}.", messages.SUCCESS
            )
        return back
    cleared = lockouts.clear(request.POST.get("token", ""))
    if cleared is None:
        model_admin.message_user(request, "That block had already ended.", messages.INFO)
    else:
        _audit(
            request,
            cleared.label,
            f"{cleared.scope}, {cleared.failures} failed PINs, noted at {cleared.where}",
        )
        model_admin.message_user(request, f"Cleared: {cleared.label}.", messages.SUCCESS)
    return back


def _audit(request, label: str, detail: str) -> None:
    """A PIN block cleared goes into the admin log, under kiosks (no single object)."""
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(Kiosk),
        object_id=None,
        object_repr=f"PIN lockout: {label}"[:200],
        action_flag=CHANGE,
        change_message=f"Cleared a PIN block ({detail}).",
    )
