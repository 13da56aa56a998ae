"""Run eCard's certification scenarios against the configured eCard and write the evidence pack,
or, with `--probe`, check every assumption of our wire contract without moving money.

    manage.py ecard_certify [--card N --pin P] [--out DIR] [--setup-sandbox-cards] ...
    manage.py ecard_certify --probe [--card N --pin P] [--out DIR]
    manage.py ecard_certify --fingerprint

The scenarios and the local sandbox set-up live in `ecard_integration.certification`; this is its
command line. The exit status is non-zero when any scenario did not behave as expected.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecard_integration import certification, evidence, probe
from ecard_integration.errors import CertificationError, EcardError
from ecard_integration.fingerprint import current_build


class Command(BaseCommand):
    help = (
        "Run eCard's certification scenarios against the configured eCard (a sandbox) and write "
        "the evidence pack (CSV, JSON, HTML)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--card", help="test card number (eCard sandbox test card)")
        parser.add_argument("--pin", help="the test card's PIN")
        parser.add_argument("--wrong-pin", help="a wrong PIN to try (default: derived)")
        parser.add_argument(
            "--void-card",
            help="a second test card: Load + Void Load, the rest of a split payment, the lost "
            "answer (default: --card; the split payment needs a second card)",
        )
        parser.add_argument("--void-card-pin", help="the second card's PIN (default: --pin)")
        parser.add_argument(
            "--unknown-card", help="a card number eCard does not know (default: one never issued)"
        )
        parser.add_argument("--inactive-card", help="eCard's inactive test card")
        parser.add_argument(
            "--lock-card",
            help="a test card the run may lock with three wrong PINs (eCard unlocks it)",
        )
        parser.add_argument("--lock-card-pin", help="the lock card's PIN (default: --pin)")
        parser.add_argument("--load-amount", default="10.00")
        parser.add_argument("--redeem-amount", default="5.00")
        parser.add_argument(
            "--declined-amount", help="amount of the Declined Redeem (default: balance + 1.00)"
        )
        parser.add_argument(
            "--initial-balance",
            default="100.00",
            help="balance the test cards are created with (local sandbox set-up only)",
        )
        parser.add_argument("--store-id", default="")
        parser.add_argument("--terminal-id", default="")
        parser.add_argument(
            "--setup-sandbox-cards",
            action="store_true",
            default=None,
            help="create the test cards on the local sandbox first "
            "(default: when ECARD_SANDBOX_CONTROL_KEY is set)",
        )
        parser.add_argument(
            "--no-setup-sandbox-cards", dest="setup_sandbox_cards", action="store_false"
        )
        parser.add_argument(
            "--full-card-numbers",
            action="store_true",
            default=None,
            help="show card numbers in full in the evidence: sandbox test cards only "
            "(default: in full on the local sandbox, masked elsewhere)",
        )
        parser.add_argument("--masked-card-numbers", dest="full_card_numbers", action="store_false")
        parser.add_argument(
            "--budget",
            type=float,
            default=None,
            help="seconds each call may take, retries included (default: the staff budget)",
        )
        parser.add_argument("--out", help="directory for the evidence (default: var/evidence/…)")
        parser.add_argument(
            "--fingerprint",
            action="store_true",
            help="print the running build's fingerprint (for ECARD_CERTIFIED_FINGERPRINT) and exit",
        )
        parser.add_argument(
            "--probe",
            action="store_true",
            help="check the wire contract's assumptions, one line each, moving no money "
            "(balance inquiries only); exit status 1 when any differs",
        )

    def handle(self, *args, **options):
        if options["fingerprint"]:
            build = current_build()
            self.stdout.write(f"{build.fingerprint}\n{build.summary}")
            return
        setup = options["setup_sandbox_cards"]
        if setup is None:
            setup = bool(settings.ECARD_SANDBOX_CONTROL_KEY)
        full = options["full_card_numbers"]
        try:
            certification.refuse_production()
            if full is None:
                full = evidence.is_local_sandbox()
            if options["probe"]:
                self._probe(options, setup)
                return
            plan = certification.plan(options, setup=setup)
            if setup:
                created = certification.create_local_cards(plan)
                self.stdout.write(
                    f"Sandbox test cards created: {created}, balance {plan.initial_balance:.2f}"
                )
        except CertificationError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(f"eCard certification against {settings.ECARD_BASE_URL}")
        report = certification.certify(plan, full_card_numbers=full, out=options["out"])
        self._summary(report)
        if report.problems:
            raise CommandError(
                f"certification run failed ({'; '.join(report.problems)}); see {report.out}"
            )

    def _probe(self, options, setup: bool) -> None:
        card = pin = wrong_pin = None
        if setup or options["card"] or settings.ECARD_CERTIFICATION_CARD:
            plan = certification.plan(options, setup=setup)
            if setup:
                certification.create_local_cards(plan)
            card, pin, wrong_pin = plan.card, plan.pin, plan.wrong_pin
        self.stdout.write(f"eCard contract probe against {settings.ECARD_BASE_URL}")
        try:
            report = probe.run_probe(card=card, pin=pin, wrong_pin=wrong_pin)
        except EcardError as exc:
            raise CommandError(f"the probe could not run: {exc.message}") from exc
        self.stdout.write(report.as_text(), ending="")
        out = certification.write_probe(report, options["out"])
        self.stdout.write(f"Probe written to {out}")
        if report.differences:
            names = ", ".join(line.key for line in report.differences)
            raise CommandError(f"the contract differs in {len(report.differences)}: {names}")

    def _summary(self, report: certification.Report) -> None:
        rows = [("Scenario", "Type", "Request id", "Result", "Actual")]
        for scenario in report.pack.scenarios:
            rows.append(
                (
                    scenario["scenario"],
                    scenario["transaction_type"],
                    scenario["transaction_request_id"],
                    "PASS" if scenario["passed"] else "FAIL",
                    scenario["actual"],
                )
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
        for row in rows:
            cells = [str(cell).ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
            self.stdout.write("  ".join([*cells, str(row[4])]))
        present = ", ".join(t for t in evidence.REQUIRED_TYPES if t in report.pack.types)
        self.stdout.write(f"Required types present: {present or 'none'}")
        self.stdout.write(f"Evidence written to {report.out}")
