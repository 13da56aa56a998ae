"""Seed the local sandbox with demo cards, the demo menu and a demo staff login; print them."""

import secrets
import time

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ecard_sandbox.control import SandboxControl
from ordering.demo import DEMO_CARDS, seed_menu


class Command(BaseCommand):
    help = (
        "Create demo cards on the local eCard sandbox, the demo menu and a demo staff user "
        "(development only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the sandbox")

    def handle(self, *args, wait, **options):
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
        self.stdout.write(f"Demo menu: {items} items (http://127.0.0.1:8000/)")
        self._staff_user()

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

    def _staff_user(self):
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            self.stdout.write("Staff login: admin (password as printed on first start)")
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@example.com", password)
        self.stdout.write(f"Staff login: admin / {password}  (http://127.0.0.1:8000/admin/)")
