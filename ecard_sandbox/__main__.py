"""Command line: `python -m ecard_sandbox --port PORT --state-dir DIR [options]` runs the sandbox;
`python -m ecard_sandbox seed ...` puts the demo cards on a running one (`ecard_sandbox.seed`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ecard_sandbox import seed
from ecard_sandbox.certs import CA_CERT_FILE, CertificateError, server_context
from ecard_sandbox.server import SandboxServer
from ecard_sandbox.state import Config, Sandbox


def _non_negative(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError("must be 0 to 60 seconds")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ecard_sandbox",
        description="Local HTTPS emulator of eCard's gift-card API (see ecard_sandbox/README.md).",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    parser.add_argument("--state-dir", required=True, help="where ca.pem and ca-key.pem live")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--client-id", default="demo-client")
    # Secrets also from the environment, so that they need not appear on a command line.
    parser.add_argument(
        "--client-secret", default=os.environ.get("ECARD_SANDBOX_CLIENT_SECRET", "demo-secret")
    )
    parser.add_argument(
        "--control-key",
        default=os.environ.get("ECARD_SANDBOX_CONTROL_KEY", "dev-sandbox-key"),
        help="X-Sandbox-Key value (or ECARD_SANDBOX_CONTROL_KEY)",
    )
    parser.add_argument("--latency", type=_non_negative, default=0.0, help="seconds per API call")
    parser.add_argument("--token-lifetime", type=_positive_int, default=86400, help="seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed for fault probabilities")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0 to 65535")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["seed"]:
        return seed.main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("ECARD_SANDBOX_LOG_LEVEL", "WARNING").upper(),
        stream=sys.stderr,
        format="ecard_sandbox %(levelname)s %(message)s",
    )
    state_dir = Path(args.state_dir)
    config = Config(
        client_id=args.client_id,
        client_secret=args.client_secret,
        control_key=args.control_key,
        latency=args.latency,
        token_lifetime=args.token_lifetime,
        seed=args.seed,
    )
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        context = server_context(state_dir, args.host)
        server = SandboxServer((args.host, args.port), Sandbox(config), context)
    except (OSError, CertificateError) as exc:
        print(f"ecard_sandbox: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    port = server.server_address[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"ecard_sandbox listening on https://{shown_host}:{port}", flush=True)
    print(f"CA certificate: {os.path.join(args.state_dir, CA_CERT_FILE)}", flush=True)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    while not stop.wait(0.5):
        if not thread.is_alive():
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
