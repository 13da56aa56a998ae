"""The app on a fresh database against its own local eCard sandbox, for `make screenshots` and
`make lighthouse`: the demo menu, an enrolled kiosk, sandbox cards, and a web server.

`GuestStack(name, production=False)`: `manage.py runserver` with DEBUG on (as `make run` serves).
`production=True`: gunicorn with config/gunicorn.conf.py, DEBUG off, freshly drawn secrets and the
files `collectstatic` hashed and compressed, nothing in front (as bench/stack.py starts it;
`SECURE_SSL_REDIRECT=0`, the clients send `X-Forwarded-Proto: https` as the TLS proxy would).
The embedded defaults (SQLite, filesystem broker) unless DATABASE_URL / REDIS_URL are set.
Everything lives under var/<name>-run/, emptied on each start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PIN = "4826"
WRONG_PIN = "1111"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GuestStack:
    def __init__(self, name: str, *, production: bool = False, guest_budget: float = 2.0) -> None:
        self.run_dir = ROOT / "var" / f"{name}-run"
        self.production = production
        self.guest_budget = guest_budget
        self.sandbox = None
        self.web: subprocess.Popen | None = None
        self.port = 0
        self.env: dict[str, str] = {}
        self._card_counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> GuestStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        from ecard_sandbox.process import SandboxProcess

        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)
        self.sandbox = SandboxProcess(
            state_dir=self.run_dir / "sandbox",
            client_id="guest-pages",
            client_secret=secrets.token_urlsafe(24),
            control_key=secrets.token_urlsafe(16),
            seed=7,
        ).start()
        self.env = self._environment()
        os.environ.update(self.env)
        # Playwright's sync API keeps an event loop in this thread; our ORM calls are plain.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "--noinput", verbosity=0)
        call_command("createcachetable", verbosity=0)
        if self.production:
            call_command("collectstatic", "--noinput", verbosity=0)
        from kiosk.models import Kiosk
        from ordering.demo import seed_menu
        from ordering.models import Store

        seed_menu()
        self.kiosk = Kiosk.objects.create(
            name="Lobby", store=Store.objects.get(ecard_store_id="store-001"), terminal_id="lobby-1"
        )
        self._start_web()

    def stop(self) -> None:
        if self.web is not None:
            self.web.terminate()
            try:
                self.web.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.web.kill()
            self.web = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None

    def _environment(self) -> dict[str, str]:
        sandbox = self.sandbox
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": os.environ.get("DATABASE_URL")
            or f"sqlite:///{self.run_dir / 'db.sqlite3'}",
            "CELERY_QUEUE_DIR": str(self.run_dir / "celery"),
            "ECARD_CLOCK_CACHE_DIR": str(self.run_dir / "ecard-clock"),
            "CACHE_KEY_PREFIX": f"guest-pages-{os.getpid()}",
            "STATIC_ROOT": str(self.run_dir / "static"),
            "ECARD_BASE_URL": sandbox.base_url,
            "ECARD_TOKEN_URL": sandbox.token_url,
            "ECARD_CLIENT_ID": sandbox.client_id,
            "ECARD_CLIENT_SECRET": sandbox.client_secret,
            "ECARD_CA_BUNDLE": str(sandbox.ca_path),
            "ECARD_SANDBOX_CONTROL_KEY": sandbox.control_key,
            # Short, so that a payment whose answer never comes shows "confirming" quickly.
            "ECARD_GUEST_BUDGET_SECONDS": str(self.guest_budget),
            "PYTHONUNBUFFERED": "1",
        }
        if self.production:
            from cryptography.fernet import Fernet

            env.update(
                DEBUG="0",
                SECRET_KEY=secrets.token_urlsafe(48),
                ALLOWED_HOSTS="127.0.0.1,localhost",
                SECURE_SSL_REDIRECT="0",
                CARD_DATA_KEYS=Fernet.generate_key().decode(),
                CARD_HASH_KEY=secrets.token_urlsafe(32),
            )
        else:
            env["DEBUG"] = "1"
        return env

    def _start_web(self) -> None:
        self.port = free_port()
        log = open(self.run_dir / "web.log", "ab")  # noqa: SIM115 - the process keeps it
        if self.production:
            command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
            extra = {
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "GUNICORN_WORKERS": "2",
                "GUNICORN_THREADS": "4",
            }
        else:
            command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}"]
            command.append("--noreload")
            extra = {}
        self.web = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **self.env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start; see {self.run_dir / 'web.log'}")
            time.sleep(0.3)

    # --- data ----------------------------------------------------------------------------------

    def new_card(self, balance: str, *, pin: str = PIN) -> str:
        """A fresh sandbox card with this balance."""
        self._card_counter += 1
        number = f"6007{os.getpid() % 10000:04d}{self._card_counter:08d}"
        self.sandbox.control.create_card(number, Decimal(balance), pin=pin)
        return number

    def guest(self):
        """bench's one-guest HTTP client (it plays the TLS proxy, keeps `Secure` cookies)."""
        from bench.web import Guest

        return Guest("127.0.0.1", self.port)

    def enrollment_link(self) -> str:
        from kiosk import services

        _row, code = services.create_enrollment_code(kiosk=self.kiosk)
        return f"{self.url}/kiosk/enroll/{code}/"

    def hang_redeems(self) -> None:
        """eCard takes the next redeems and never answers: the payment's outcome is unknown."""
        self.sandbox.control.set_faults(
            [{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}]
        )

    def answer_again(self) -> None:
        self.sandbox.control.clear_faults()
