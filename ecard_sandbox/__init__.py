"""ecard_sandbox: a local emulator of eCard Systems' gift-card REST API (see README.md).

Run it with `python -m ecard_sandbox` (`python -m ecard_sandbox seed` adds the demo cards); drive
it from tests with `ecard_sandbox.process.SandboxProcess` and `ecard_sandbox.control.SandboxControl`.
It never imports Django or the project's apps.
"""

__version__ = "1.0.0"
