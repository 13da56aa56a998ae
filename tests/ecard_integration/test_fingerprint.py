"""The certified-build fingerprint (ecard_integration/fingerprint.py): what it covers, and where an
operator sees it: /healthz's details (loopback and the allow-list only) and the admin index, each
saying "not the certified build" when ECARD_CERTIFIED_FINGERPRINT is another build's."""

import re
import shutil

import pytest

from ecard_integration import fingerprint
from ecard_integration.fingerprint import CERTIFIED, NOT_CERTIFIED, UNSET, current_build

OTHER_BUILD = "0123456789abcdef" * 4


@pytest.fixture
def copied_package(tmp_path, monkeypatch):
    """The eCard-facing files copied aside, the fingerprint computed over the copy."""
    for name in fingerprint.CERTIFIED_FILES:
        shutil.copy(fingerprint.PACKAGE / name, tmp_path / name)
    monkeypatch.setattr(fingerprint, "PACKAGE", tmp_path)
    fingerprint._hashes.cache_clear()
    yield tmp_path
    fingerprint._hashes.cache_clear()


def test_a_change_to_the_wire_module_or_the_ecard_facing_code_changes_it(copied_package):
    before = current_build()
    assert re.fullmatch(r"[0-9a-f]{64}", before.fingerprint)
    for name in ("wire.py", "retry.py"):
        with (copied_package / name).open("a") as source:
            source.write("# a change\n")
        fingerprint._hashes.cache_clear()
        after = current_build()
        assert after.fingerprint != before.fingerprint, name
        assert (after.wire != before.wire) is (name == "wire.py")
        before = after


def test_line_endings_do_not_change_it(copied_package):
    before = current_build().fingerprint
    wire = copied_package / "wire.py"
    wire.write_bytes(wire.read_bytes().replace(b"\n", b"\r\n"))
    fingerprint._hashes.cache_clear()
    assert current_build().fingerprint == before


def test_it_compares_with_the_configured_fingerprint(settings):
    running = current_build()
    assert running.status == UNSET
    settings.ECARD_CERTIFIED_FINGERPRINT = running.short.upper()
    assert current_build().status == CERTIFIED
    settings.ECARD_CERTIFIED_FINGERPRINT = running.fingerprint
    assert current_build().is_certified
    settings.ECARD_CERTIFIED_FINGERPRINT = OTHER_BUILD
    assert current_build().status == NOT_CERTIFIED
    assert current_build().summary.startswith("not the certified build")


@pytest.mark.django_db(transaction=True)
def test_healthz_tells_the_build_to_loopback_only(client, settings):
    settings.ECARD_CERTIFIED_FINGERPRINT = OTHER_BUILD
    detailed = client.get("/healthz", REMOTE_ADDR="127.0.0.1").json()
    build = detailed["build"]
    assert build["fingerprint"] == current_build().fingerprint
    assert build["status"] == NOT_CERTIFIED
    assert build["certified_fingerprint"] == OTHER_BUILD
    assert "ecard_integration/wire.py" in build["files"]
    bare = client.get("/healthz", REMOTE_ADDR="203.0.113.9")
    assert set(bare.json()) == {"status"}
    assert current_build().fingerprint[:16] not in bare.content.decode()


@pytest.mark.django_db
def test_the_admin_index_says_when_it_is_not_the_certified_build(admin_client, settings):
    running = current_build()
    settings.ECARD_CERTIFIED_FINGERPRINT = OTHER_BUILD
    page = admin_client.get("/admin/").content.decode()
    assert "not the certified build" in page
    assert running.short in page
    assert OTHER_BUILD[:16] in page
    assert "Site administration" in page  # the index itself is still there

    settings.ECARD_CERTIFIED_FINGERPRINT = running.short
    page = admin_client.get("/admin/").content.decode()
    assert "the certified build" in page
    assert "not the certified build" not in page

    settings.ECARD_CERTIFIED_FINGERPRINT = ""
    assert "ECARD_CERTIFIED_FINGERPRINT" in admin_client.get("/admin/").content.decode()


def test_the_command_prints_it(capsys):
    from django.core.management import call_command

    call_command("ecard_certify", fingerprint=True)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == current_build().fingerprint
    assert "ECARD_CERTIFIED_FINGERPRINT is not set" in printed[1]
