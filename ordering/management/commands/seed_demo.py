"""Seed the demo menu, a demo kiosk and a demo staff login; print them, with the kiosk's one-step
enrollment link. The demo gift cards live on the sandbox: `python -m ecard_sandbox seed`
(`make run` does both)."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ordering.demo import DEMO_KIOSK, DEMO_STORE, seed_menu

# How to give the demo staff user a new password (it is printed only when first made).
CHANGE_STAFF_LOGIN_COMMAND = "DEBUG=1 .venv/bin/python manage.py changepassword admin"


class Command(BaseCommand):
    help = (
        "Create the demo menu, a demo kiosk and a demo staff user (development only); the demo "
        "cards are the sandbox's (python -m ecard_sandbox seed)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--web-addr",
            default=os.environ.get("WEB_ADDR") or "127.0.0.1:8000",
            help="host:port the web server listens on, for the printed links (default: WEB_ADDR)",
        )

    def handle(self, *args, web_addr, **options):
        web = f"http://{web_addr}"
        if not settings.DEBUG:
            raise CommandError("seed_demo is for development (DEBUG=1) only")
        items = seed_menu()
        self.stdout.write(f"Demo menu: {items} items ({web}/)")
        self._kiosk(web)
        self._staff_user(web)

    def _kiosk(self, web: str) -> None:
        """The demo kiosk, and a fresh one-time code for it: opening the link in the browser that
        is to be the kiosk (and confirming) enrolls it in one step."""
        from kiosk import services as kiosk_services
        from kiosk.models import Kiosk
        from ordering.models import Store

        store = Store.objects.get(ecard_store_id=DEMO_STORE["ecard_store_id"])
        kiosk, _ = Kiosk.objects.get_or_create(
            store=store,
            terminal_id=DEMO_KIOSK["terminal_id"],
            defaults={"name": DEMO_KIOSK["name"]},
        )
        row, code = kiosk_services.create_enrollment_code(kiosk=kiosk)
        link = f"{web}{reverse('kiosk:enroll_link', args=[code])}"
        self.stdout.write(
            f"Demo kiosk: {kiosk.name}. Enroll a browser as this kiosk by opening {link} "
            f"(one use, valid for {kiosk_services.enrollment_expiry_text(row)}); then {web}/kiosk/"
        )

    def _staff_user(self, web: str) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            self.stdout.write(
                f"Staff login: admin ({web}/admin/), with the password printed on its first "
                f"start. To set a new one: {CHANGE_STAFF_LOGIN_COMMAND}"
            )
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@example.com", password)
        self.stdout.write(f"Staff login: admin / {password}  ({web}/admin/)")
