"""Uploaded images served from our own origin, by the app itself (gunicorn alone, DEBUG or not).

Only names of the shape `ordering.images` writes are served (`items/<hash>-800.webp`,
`stores/<hash>-logo.webp`, …): the pattern admits no `/` beyond the folder, no `..`, no
backslash and no other folder, and the path is joined under MEDIA_ROOT with `safe_join` anyway.
A name's content never changes (named by its hash; storage never overwrites), so browsers may
keep it for a year; the ETag answers revalidations with a 304.
"""

import os
import re

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.utils._os import safe_join
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe

SERVED_NAME = re.compile(r"(?:items|stores)/[A-Za-z0-9_-]{1,120}\.(webp|jpg|png)")
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
CACHE_CONTROL = "public, max-age=31536000, immutable"


@require_safe
def serve(request, name: str):
    match = SERVED_NAME.fullmatch(name)
    if match is None:
        raise Http404("No such image.")
    try:
        path = safe_join(settings.MEDIA_ROOT, name)
        handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    except (OSError, SuspiciousFileOperation):  # missing, a folder, or outside MEDIA_ROOT
        raise Http404("No such image.") from None
    stat = os.fstat(handle.fileno())
    etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    not_modified = get_conditional_response(request, etag=etag, last_modified=int(stat.st_mtime))
    if isinstance(not_modified, HttpResponseNotModified):
        handle.close()
        response = not_modified
    else:
        response = FileResponse(handle, content_type=CONTENT_TYPES[match.group(1)])
    response["ETag"] = etag
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Cache-Control"] = CACHE_CONTROL
    return response
