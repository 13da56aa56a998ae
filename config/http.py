"""HTTP answers shared by the guest pages and the staff admin."""

from django.http import HttpResponseRedirect


class SeeOther(HttpResponseRedirect):
    """303 after a POST: the browser GETs the next page, so a refresh never re-posts the form."""

    status_code = 303
