"""The Spanish catalog (locale/es/LC_MESSAGES): complete, compiled, and up to date with the code.

A guest sentence marked for translation but missing from django.po (makemessages was not run), a
sentence without its Spanish, or a django.mo not compiled from the django.po committed beside it
would each show English on a Spanish page; each fails here."""

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What makemessages reads: everything but the virtualenv, runtime files, tests and tools.
SOURCES = ("config", "ecard_integration", "kiosk", "ordering", "templates", "manage.py")
IGNORED = ("tests", "bench", "deploy", "scripts", ".venv", "var", "node_modules")
# Words of the admin's own templates (templates/admin/…) that Django's Spanish catalog has.
DJANGO_OWN = {"Search", "Show all", "Save", "%(full_result_count)s total", "%(counter)s result"}


def entries(po_text: str) -> dict[str, list[str]]:
    """msgid -> its msgstr(s), for every entry but the header."""
    found = {}
    for block in po_text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        fields: dict[str, str] = {}
        key = None
        for line in lines:
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                fields[key] = match.group(2)
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
        if fields.get("msgid"):
            unescape = lambda text: text.replace('\\"', '"').replace("\\\\", "\\")  # noqa: E731
            found[unescape(fields["msgid"])] = [
                unescape(value)
                for name, value in sorted(fields.items())
                if name.startswith("msgstr")
            ]
    return found


def test_every_guest_sentence_has_its_spanish():
    missing = [
        msgid
        for msgid, translations in entries(PO.read_text(encoding="utf-8")).items()
        if msgid not in DJANGO_OWN and not all(translations)
    ]
    assert not missing, f"untranslated in {PO.name}: {missing}"


def test_the_compiled_catalog_is_the_committed_one():
    catalog = gettext.GNUTranslations(MO.open("rb"))
    stale = []
    for msgid, translations in entries(PO.read_text(encoding="utf-8")).items():
        if msgid in DJANGO_OWN or len(translations) != 1:
            continue
        if catalog.gettext(msgid) != translations[0]:
            stale.append(msgid)
    assert not stale, f"{MO.name} is not compiled from {PO.name}: run compilemessages ({stale[:3]})"


def test_makemessages_would_add_or_drop_no_sentence(tmp_path):
    """makemessages on a copy of the code: the sentences it finds are the catalog's, no more and
    no fewer (a new sentence marked but not added to django.po, or one left over)."""
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    command = [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-obsolete"]
    for name in IGNORED:
        command += ["-i", name]
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = set(entries((tmp_path / "locale/es/LC_MESSAGES/django.po").read_text("utf-8")))
    committed = set(entries(PO.read_text(encoding="utf-8")))
    assert found - committed == set(), "marked but not in django.po: run makemessages -l es"
    assert committed - found == set(), "in django.po but no longer in the code"
