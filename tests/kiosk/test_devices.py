"""Kiosk devices: one-time enrollment codes, the signed device credential, disabling, admin."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core import signing
from django.db.models.functions import Now
from django.test import Client

from kiosk import services
from kiosk.models import EnrollmentCode, Kiosk
from tests.factories import staff_client
from tests.kiosk_client import enroll, g, start_visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unenrolled_browser_sees_only_the_enrollment_prompt(client, kiosk):
    for path in ("/kiosk/", g("A" * 16), g("A" * 16, "pay/"), g("A" * 16, "receipt/")):
        response = client.get(path)
        assert response.status_code == 303
        assert response["Location"] == "/kiosk/enroll/"
    assert client.post("/kiosk/start/")["Location"] == "/kiosk/enroll/"
    page = client.get("/kiosk/enroll/")
    assert page.status_code == 200
    assert "This screen is not set up as a kiosk" in page.content.decode()
    assert "no-store" in page["Cache-Control"]


def test_a_code_enrolls_the_browser_once_with_a_signed_strict_httponly_cookie(client, kiosk):
    row, code = services.create_enrollment_code(kiosk=kiosk)

    response = client.post("/kiosk/enroll/", {"code": services.format_code(code)})

    assert response.status_code == 303
    assert response["Location"] == "/kiosk/"
    cookie = response.cookies[services.COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/kiosk/"
    assert not cookie["secure"]  # DEBUG (tests): plain-HTTP live server
    payload = signing.loads(cookie.value, salt=services.CREDENTIAL_SALT)
    kiosk.refresh_from_db()
    assert payload["k"] == kiosk.id
    assert payload["v"] == kiosk.credential_version
    assert client.get("/kiosk/").status_code == 200
    row.refresh_from_db()
    assert row.used_at is not None
    assert kiosk.enrolled_at is not None

    again = Client().post("/kiosk/enroll/", {"code": code})
    assert again.status_code == 400
    assert services.ENROLL_FAILED in again.content.decode()
    assert services.COOKIE_NAME not in again.cookies


def test_the_cookie_is_secure_in_production(client, kiosk, settings):
    settings.KIOSK_COOKIE_SECURE = True
    _row, code = services.create_enrollment_code(kiosk=kiosk)
    response = client.post("/kiosk/enroll/", {"code": code})
    assert response.cookies[services.COOKIE_NAME]["secure"] is True


def test_codes_are_stored_only_as_a_keyed_hash(kiosk):
    row, code = services.create_enrollment_code(kiosk=kiosk)
    stored = EnrollmentCode.objects.filter(id=row.id).values().get()
    assert code not in str(stored)
    assert len(row.code_hash) == 64
    assert row.code_hash != code
    assert len(code) == 16
    assert code.isdigit()
    assert row.expires_at > row.created_at


def test_an_expired_code_is_refused(client, kiosk):
    row, code = services.create_enrollment_code(kiosk=kiosk)
    EnrollmentCode.objects.filter(id=row.id).update(expires_at=Now() - timedelta(seconds=1))
    response = client.post("/kiosk/enroll/", {"code": code})
    assert response.status_code == 400
    assert services.COOKIE_NAME not in response.cookies


def test_wrong_codes_are_throttled_per_address(client, kiosk, settings):
    settings.KIOSK_ENROLL_ATTEMPT_LIMIT = 3
    for _ in range(3):
        assert client.post("/kiosk/enroll/", {"code": "0" * 16}).status_code == 400
    _row, code = services.create_enrollment_code(kiosk=kiosk)
    response = client.post("/kiosk/enroll/", {"code": code})
    assert response.status_code == 400
    assert services.ENROLL_THROTTLED in response.content.decode()
    assert EnrollmentCode.objects.get().used_at is None  # the right code is not used up


def test_the_link_asks_before_using_the_code(client, kiosk):
    row, code = services.create_enrollment_code(kiosk=kiosk)
    page = client.get(f"/kiosk/enroll/{code}/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    row.refresh_from_db()
    assert row.used_at is None  # a link preview does not use it up
    response = client.post(f"/kiosk/enroll/{code}/", {"code": code})
    assert response.status_code == 303
    assert services.COOKIE_NAME in response.cookies


def test_enrolling_again_signs_the_first_browser_out(kiosk):
    first = enroll(Client(), kiosk)
    second = enroll(Client(), kiosk)
    assert second.get("/kiosk/").status_code == 200

    response = first.get("/kiosk/")

    assert response["Location"] == "/kiosk/enroll/"
    assert response.cookies[services.COOKIE_NAME].value == ""  # the stale credential is dropped


def test_signing_the_device_out_stops_it_at_its_next_request(device, kiosk):
    guest_id = start_visit(device)
    assert device.get(g(guest_id)).status_code == 200

    services.sign_out_device(kiosk=kiosk)

    response = device.get(g(guest_id))
    assert response["Location"] == "/kiosk/enroll/"
    assert not any(key.startswith("kiosk_") for key, _value in device.session.items())


@pytest.mark.parametrize(
    "credential",
    [
        "garbage",
        signing.dumps({"k": 1, "v": "x"}, salt="another-salt"),
        signing.dumps({"k": "1", "v": "x"}, salt=services.CREDENTIAL_SALT),
    ],
)
def test_a_forged_credential_is_refused(client, kiosk, credential):
    client.cookies[services.COOKIE_NAME] = credential
    assert client.get("/kiosk/")["Location"] == "/kiosk/enroll/"


def test_a_credential_with_a_guessed_version_is_refused(client, kiosk):
    client.cookies[services.COOKIE_NAME] = signing.dumps(
        {"k": kiosk.id, "v": "0" * 32}, salt=services.CREDENTIAL_SALT
    )
    assert client.get("/kiosk/")["Location"] == "/kiosk/enroll/"


def test_a_disabled_kiosk_is_out_of_service_at_its_next_request(device, kiosk, items):
    guest_id = start_visit(device)
    device.post(g(guest_id, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    assert device.session.get("ordering_cart")

    Kiosk.objects.filter(id=kiosk.id).update(active=False)

    response = device.get(g(guest_id, "cart/"))
    assert response.status_code == 503
    assert "This kiosk is out of service" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert not device.session.get("ordering_cart")  # the guest's visit is wiped
    assert device.post("/kiosk/start/").status_code == 503

    Kiosk.objects.filter(id=kiosk.id).update(active=True)
    assert device.get("/kiosk/").status_code == 200  # the credential itself stays valid


def test_an_old_credential_is_renewed(device, kiosk):
    device.cookies[services.COOKIE_NAME] = signing.dumps(
        {"k": kiosk.id, "v": Kiosk.objects.get().credential_version, "t": 0},
        salt=services.CREDENTIAL_SALT,
    )
    response = device.get("/kiosk/")
    assert response.status_code == 200
    renewed = signing.loads(
        response.cookies[services.COOKIE_NAME].value, salt=services.CREDENTIAL_SALT
    )
    assert renewed["t"] > 0


def test_a_terminal_id_must_suit_ecard_and_differ_from_the_online_one(store):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Kiosk(name="x", store=store, terminal_id="web-01").full_clean()
    with pytest.raises(ValidationError):
        Kiosk(name="x", store=store, terminal_id="bad id!").full_clean()
    Kiosk(name="x", store=store, terminal_id="kiosk-02").full_clean()


# --- Admin --------------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return staff_client("view_kiosk", "change_kiosk", "enroll_kiosk", "unlock_pin_throttle")


def test_staff_make_a_code_that_is_shown_once_and_enrolls(staff, kiosk):
    page = staff.get(f"/admin/kiosk/kiosk/{kiosk.id}/change/")
    assert "Make a one-time enrollment code" in page.content.decode()

    response = staff.post(f"/admin/kiosk/kiosk/{kiosk.id}/enrollment-code/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    link = text.split('id="enrollment-link">')[1].split("<")[0]
    code = link.rstrip("/").rsplit("/", 1)[1]
    assert services.format_code(code) in text
    device = Client()
    assert device.post(f"/kiosk/enroll/{code}/", {"code": code}).status_code == 303
    assert device.get("/kiosk/").status_code == 200


def test_staff_sign_a_kiosk_out_and_disable_it(staff, kiosk):
    device = enroll(Client(), kiosk)
    staff.post(f"/admin/kiosk/kiosk/{kiosk.id}/sign-out/")
    assert device.get("/kiosk/")["Location"] == "/kiosk/enroll/"

    device = enroll(Client(), kiosk)
    staff.post(
        "/admin/kiosk/kiosk/",
        {"action": "deactivate", "_selected_action": [kiosk.id]},
    )
    assert device.get("/kiosk/").status_code == 503


def test_codes_need_the_enroll_permission(kiosk):
    user = User.objects.create_user("viewer", password="correct horse battery", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_kiosk"))
    client = Client()
    client.force_login(user)
    assert client.post(f"/admin/kiosk/kiosk/{kiosk.id}/enrollment-code/").status_code == 403
    assert client.get("/admin/kiosk/kiosk/lockouts/").status_code == 403
    assert not EnrollmentCode.objects.exists()


def test_the_add_kiosk_form_shows_only_what_staff_fill_in(kiosk):
    from kiosk.models import Kiosk

    user = User.objects.create_superuser("owner", password="correct horse battery")
    client = Client()
    client.force_login(user)

    page = client.get("/admin/kiosk/kiosk/add/").content.decode()

    assert "DatabaseDefault" not in page
    assert "field-created_at" not in page
    assert "field-enrolled_at" not in page
    response = client.post(
        "/admin/kiosk/kiosk/add/",
        {
            "name": "Lobby 2",
            "store": kiosk.store_id,
            "terminal_id": "kiosk-02",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    added = Kiosk.objects.get(terminal_id="kiosk-02")
    assert added.created_at is not None
    assert (
        "field-created_at" in client.get(f"/admin/kiosk/kiosk/{added.id}/change/").content.decode()
    )
