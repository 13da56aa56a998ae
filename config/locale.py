"""Which language a page is in: the browser's online, the visit's on the kiosk, English for staff.

Online, Django's LocaleMiddleware reads Accept-Language (then the default, English). A kiosk is a
shared screen: a browser setting would be the kiosk's, not the guest's, so its pages follow the
language the guest chose with the switch, kept in the visit (kiosk.guest), and start again in
English once the visit is wiped. The staff admin is English only (its pages are not translated).
"""

from django.conf import settings
from django.middleware import locale
from django.utils import translation

from kiosk.guest import visit_language


class LocaleMiddleware(locale.LocaleMiddleware):
    def process_request(self, request):
        path = request.path_info
        if path.startswith("/kiosk/"):
            language = visit_language(request.session)
        elif path.startswith(("/admin/", settings.MEDIA_URL)):
            language = settings.LANGUAGE_CODE  # staff pages; images are the same in every language
        else:
            super().process_request(request)
            return
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        # No "Vary: Accept-Language" on images: a browser would revalidate each one per page.
        if request.path_info.startswith(settings.MEDIA_URL):
            return response
        return super().process_response(request, response)
