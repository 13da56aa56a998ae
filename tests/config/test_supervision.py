"""The systemd units under deploy/systemd name real commands, and restart whatever the exit."""

import configparser
import importlib.util
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
UNITS = ROOT / "deploy" / "systemd"
INSTALL_DIR = "/opt/giftcards"
SERVICES = ["giftcards-web.service", "giftcards-worker.service", "giftcards-beat.service"]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def exec_start(name: str) -> list[str]:
    """ExecStart's arguments, the program made relative to the install (our checkout here)."""
    service = unit(name)["Service"]
    assert service["WorkingDirectory"] == INSTALL_DIR
    program, *args = shlex.split(service["ExecStart"].replace("%H", "host"))
    assert program.startswith(f"{INSTALL_DIR}/.venv/bin/"), program
    local = ROOT / program.removeprefix(f"{INSTALL_DIR}/")
    assert local.exists(), f"{program}: no such program in the virtualenv"
    return [local.name, *args]


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_restarts_on_any_exit_and_never_gives_up(name):
    parsed = unit(name)
    assert parsed["Service"]["Restart"] == "always"  # a crash, a kill, even a clean exit
    assert int(parsed["Service"]["RestartSec"]) >= 1
    # systemd's default start limit (5 in 10 s) would leave a crash-looping worker dead for good.
    assert parsed["Unit"]["StartLimitIntervalSec"] == "0"
    assert parsed["Unit"]["PartOf"] == "giftcards.target"
    assert parsed["Install"]["WantedBy"] == "giftcards.target"


def test_the_target_starts_every_service():
    wants = unit("giftcards.target")["Unit"]["Wants"].split()
    assert sorted(wants) == sorted(SERVICES)
    for name in wants:
        assert (UNITS / name).exists()


def test_web_runs_gunicorn_with_the_project_configuration():
    from gunicorn.config import Config

    program, *args = exec_start("giftcards-web.service")
    assert program == "gunicorn"
    options = Config().parser().parse_args(args)
    config_file = ROOT / options.config
    assert config_file.exists()
    namespace: dict = {}
    exec(compile(config_file.read_text(), str(config_file), "exec"), namespace)  # noqa: S102
    module = namespace["wsgi_app"].split(":")[0]
    assert importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("name", "command"),
    [("giftcards-worker.service", "worker"), ("giftcards-beat.service", "beat")],
)
def test_celery_units_name_our_app_and_options_celery_accepts(name, command):
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery as cli

    from config.celery import app

    program, *args = exec_start(name)
    assert program == "celery"
    context = cli.make_context("celery", list(args))
    assert context.params["app"] == "config"
    tokens = [*getattr(context, "_protected_args", []), *context.args]
    assert tokens[0] == command
    subcommand = cli.get_command(context, command)
    obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    # Raises on an option Celery does not know or a value it refuses.
    parsed = subcommand.make_context(command, tokens[1:], parent=context, obj=obj)
    assert parsed.params["loglevel"] == 20
