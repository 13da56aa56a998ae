"""The demo seed (menu, kiosk, staff login) and the ordering beat task."""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models.functions import Now

from config.celery import app
from ordering import tasks
from ordering.demo import DEMO_MENU
from ordering.models import Category, Item, Order, OrderStatus, Store
from tests.factories import make_order


@pytest.mark.django_db
def test_seed_demo_seeds_the_menu_and_can_run_twice(capsys, settings):
    settings.DEBUG = True  # pytest-django turns it off; the command is for development only
    call_command("seed_demo")
    call_command("seed_demo")
    assert Category.objects.count() == len(DEMO_MENU)
    assert Item.objects.count() == sum(len(items) for _, items in DEMO_MENU)
    assert Store.objects.get().ecard_store_id == "store-001"
    assert "Demo menu: 8 items" in capsys.readouterr().out


@pytest.mark.django_db
def test_seed_demo_prints_the_web_address_a_kiosk_link_and_how_to_reset_the_password(
    capsys, settings, client
):
    from kiosk.models import Kiosk

    settings.DEBUG = True
    call_command("seed_demo", web_addr="127.0.0.1:8123")
    first = capsys.readouterr().out
    call_command("seed_demo", web_addr="127.0.0.1:8123")
    second = capsys.readouterr().out

    for out in (first, second):
        assert "8000" not in out
        assert "Demo menu: 8 items (http://127.0.0.1:8123/)" in out
        assert "http://127.0.0.1:8123/admin/" in out
    assert "Staff login: admin / " in first
    assert "manage.py changepassword admin" in second
    kiosk = Kiosk.objects.get()  # one demo kiosk, however many starts
    assert kiosk.store.ecard_store_id == "store-001"
    # The printed link enrolls a browser in one step (open it, confirm).
    links = re.findall(r"http://127\.0\.0\.1:8123(/kiosk/enroll/([0-9]{16})/)", second)
    assert len(links) == 1
    path, code = links[0]
    assert "valid for 15 minutes" in second
    assert client.post(path, {"code": code})["Location"] == "/kiosk/"
    assert client.get("/kiosk/").status_code == 200


def test_the_beat_task_is_registered_under_its_name():
    app.loader.import_default_modules()
    assert "ordering.expire_abandoned_orders" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_cancels_timed_out_checkouts(items, settings):
    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 120
    old = make_order([(items["latte"], 1)])
    new = make_order([(items["latte"], 1)])
    Order.objects.filter(id=old.id).update(created_at=Now() - timedelta(seconds=121))
    assert tasks.expire_abandoned_orders() == 1
    assert tasks.expire_abandoned_orders() == 0  # safe to run twice
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, old.cancel_reason) == (OrderStatus.CANCELLED, "abandoned")
    assert new.status == OrderStatus.OPEN
