"""Evidence exports in the admin: ask for a date range, watch the worker's progress, download the
ZIP. Everything here needs the `export_evidence` permission; the request and each download are
written to the admin's log (who took which range out of the system, and when)."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html

from config.http import SeeOther
from ecard_integration import exports
from ecard_integration.errors import InvalidInput
from ecard_integration.forms import EvidenceExportForm
from ecard_integration.models import EvidenceExport, ExportState, Kind

REFRESH_SECONDS = 3
EXPORT_PERMISSION = "ecard_integration.export_evidence"


@admin.register(EvidenceExport)
class EvidenceExportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "range_text",
        "kinds_text",
        "store_text",
        "requested_by",
        "state",
        "progress",
        "download",
    )
    list_filter = ("state",)
    list_select_related = ("requested_by",)
    fields = (
        "state",
        "progress",
        "download",
        "range_text",
        "kinds_text",
        "store_text",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "attempt",
        "error",
    )
    readonly_fields = fields
    change_form_template = "admin/ecard_integration/evidenceexport/change_form.html"

    # --- Permissions: the one permission of the evidence, never a change or a delete ------------

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_add_permission(self, request):
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/download/",
                wrap(self.download_view),
                name="ecard_integration_evidenceexport_download",
            ),
            *super().get_urls(),
        ]

    # --- Columns and fields ---------------------------------------------------------------------

    @admin.display(description="days")
    def range_text(self, job):
        if job.date_from == job.date_to:
            return localize(job.date_from)
        return f"{localize(job.date_from)} – {localize(job.date_to)}"

    @admin.display(description="kinds")
    def kinds_text(self, job):
        names = dict(Kind.choices)
        return ", ".join(names.get(kind, kind) for kind in job.kinds) or "All"

    @admin.display(description="store")
    def store_text(self, job):
        return job.store_id or "All"

    @admin.display(description="progress")
    def progress(self, job):
        if job.rows_expected is None:
            return "Waiting for a worker" if job.state == ExportState.QUEUED else ""
        text = f"{job.rows_written:,} of {job.rows_expected:,} transactions"
        percent = job.progress_percent
        return f"{text} ({percent}%)" if percent is not None else text

    @admin.display(description="file")
    def download(self, job):
        if exports.file_path(job) is None:
            return ""
        size = f"{job.file_size / 1_000_000:.1f} MB" if job.file_size else ""
        return format_html(
            "<a href='{}' class='ecard-download'>Download {}</a> {}",
            reverse("admin:ecard_integration_evidenceexport_download", args=[job.pk]),
            job.file_name,
            size,
        )

    # --- The request: a form, then the job's page (post/redirect/get) ---------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        form = EvidenceExportForm(
            request.POST if request.method == "POST" else None,
            initial={"date_from": today, "date_to": today},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = exports.request_export(
                    requested_by=request.user,
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    kinds=data["kinds"],
                    store_id=data["store_id"].strip(),
                )
            except InvalidInput as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                self.log_addition(
                    request,
                    job,
                    f"Evidence export requested: {self.range_text(job)}, kinds "
                    f"{self.kinds_text(job)}, store {self.store_text(job)}.",
                )
                self.message_user(
                    request,
                    "The export is queued: this page shows its progress and, when it is ready, "
                    "the download.",
                    messages.SUCCESS,
                )
                return SeeOther(
                    reverse("admin:ecard_integration_evidenceexport_change", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Export evidence of a date range",
            "form": form,
            **(extra_context or {}),
        }
        return TemplateResponse(
            request, "admin/ecard_integration/evidenceexport/request_form.html", context
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if job is not None and job.state in (ExportState.QUEUED, ExportState.RUNNING):
            context["refresh_seconds"] = REFRESH_SECONDS
        return super().change_view(request, object_id, form_url, extra_context=context)

    def download_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        path = exports.file_path(job)
        if path is None:
            self.message_user(request, "This export has no file to download.", messages.WARNING)
            return HttpResponseRedirect(
                reverse("admin:ecard_integration_evidenceexport_change", args=[job.pk])
            )
        self.log_change(request, job, f"Downloaded {job.file_name}.")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=job.file_name,
            content_type="application/zip",
        )
