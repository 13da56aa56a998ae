"""Seed the local sandbox with demo cards, the demo menu, a demo kiosk and a demo staff login;
print them, with the kiosk's one-step enrollment link."""

import os
import secrets
import time

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ecard_sandbox.control import SandboxControl
from ordering.demo import DEMO_CARDS, DEMO_KIOSK, DEMO_STORE, seed_menu

# How to give the demo staff user a new password (it is printed only when first made).
CHANGE_STAFF_LOGIN_COMMAND = "DEBUG=1 .venv/bin/python manage.py changepassword admin"


class Command(BaseCommand):
    help = (
        "Create demo cards on the local eCard sandbox, the demo menu and a demo staff user "
        "(development only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the sandbox")
        parser.add_argument(
            "--web-addr",
            default=os.environ.get("WEB_ADDR") or "127.0.0.1:8000",
            help="host:port the web server listens on, for the printed links (default: WEB_ADDR)",
        )

    def handle(self, *args, wait, web_addr, **options):
        web = f"http://{web_addr}"
        if not settings.DEBUG:
            raise CommandError("seed_demo is for development (DEBUG=1) only")
        if not settings.ECARD_SANDBOX_CONTROL_KEY:
            raise CommandError("ECARD_SANDBOX_CONTROL_KEY is not set: no local sandbox to seed")
        control = self._sandbox(wait)
        self.stdout.write("Demo gift cards on the local sandbox (sandbox test data):")
        for card in DEMO_CARDS:
            control.create_card(
                card["card_number"],
                card["balance"],
                pin=card["pin"],
                pin_required=card.get("pin_required", False),
                status=card.get("status", "active"),
            )
            note = card.get("status", "")
            self.stdout.write(
                f"  {card['card_number']}  PIN {card['pin']}  balance {card['balance']:>7}  {note}"
            )
        items = seed_menu()
        self.stdout.write(f"Demo menu: {items} items ({web}/)")
        self._kiosk(web)
        self._staff_user(web)

    def _sandbox(self, wait: float) -> SandboxControl:
        root = settings.ECARD_BASE_URL.split("/api/")[0]
        control = SandboxControl(root, settings.ECARD_SANDBOX_CONTROL_KEY, settings.ECARD_CA_BUNDLE)
        deadline = time.monotonic() + wait
        while True:
            try:
                control.stats()
                return control
            except (requests.RequestException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"the sandbox at {root} does not answer: {exc}") from exc
                time.sleep(0.3)

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
