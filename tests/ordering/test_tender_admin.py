"""The tender admin (issue 16): read-only, behind its view permission, linked both ways to its
order and its eCard transaction; the transaction, exchange and order pages link to each other."""

import pytest
from django.urls import reverse

from ecard_integration.models import Kind
from ordering.models import Tender, TenderStatus
from tests.factories import make_order, pay, staff_client

pytestmark = pytest.mark.django_db(transaction=True)

TENDERS = reverse("admin:ordering_tender_changelist")


def tender_url(tender) -> str:
    return reverse("admin:ordering_tender_change", args=[tender.pk])


def order_url(order) -> str:
    return reverse("admin:ordering_order_change", args=[order.pk])


def transaction_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_change", args=[row.pk])


def exchange_url(exchange) -> str:
    return reverse("admin:ecard_integration_ecardexchange_change", args=[exchange.pk])


def exchanges_url(row) -> str:
    return reverse("admin:ecard_integration_ecardexchange_changelist") + (
        f"?transaction__id__exact={row.pk}"
    )


@pytest.fixture
def paid(items, card):
    order = make_order([(items["latte"], 1)])
    pay(order, card)
    tender = Tender.objects.select_related("transaction", "order").get(order=order)
    assert tender.status == TenderStatus.APPROVED
    return tender


def body(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_tender_list_and_page_show_the_card_masked_and_link_order_and_transaction(
    admin_client, paid, card
):
    listing = body(admin_client.get(TENDERS))
    assert f"•••• {card[-4:]}" in listing
    assert card not in listing
    assert order_url(paid.order) in listing
    assert transaction_url(paid.transaction) in listing

    detail = body(admin_client.get(tender_url(paid)))
    assert order_url(paid.order) in detail
    assert transaction_url(paid.transaction) in detail
    assert exchanges_url(paid.transaction).replace("&", "&amp;") in detail
    assert card not in detail
    assert 'name="_save"' not in detail  # read-only


def test_the_order_transaction_and_exchange_pages_link_back(admin_client, paid):
    order_page = body(admin_client.get(order_url(paid.order)))
    assert tender_url(paid) in order_page
    assert transaction_url(paid.transaction) in order_page
    assert exchanges_url(paid.transaction) in order_page

    transaction_page = body(admin_client.get(transaction_url(paid.transaction)))
    assert tender_url(paid) in transaction_page
    assert order_url(paid.order) in transaction_page
    assert exchanges_url(paid.transaction) in transaction_page

    exchange = paid.transaction.exchanges.last()
    exchange_page = body(admin_client.get(exchange_url(exchange)))
    assert transaction_url(paid.transaction) in exchange_page
    assert tender_url(paid) in exchange_page
    assert order_url(paid.order) in exchange_page
    listed = body(admin_client.get(exchanges_url(paid.transaction)))
    assert exchange_url(exchange) in listed


def test_a_void_links_to_the_order_and_tender_of_its_original(admin_client, paid):
    from ecard_integration import services

    void = services.void(original=paid.transaction, source="staff", reason="test")
    assert void.kind == Kind.VOID_REDEEM
    void_page = body(admin_client.get(transaction_url(void)))
    assert tender_url(paid) in void_page
    assert order_url(paid.order) in void_page


def test_tenders_are_never_added_changed_or_deleted_here(admin_client, paid):
    assert admin_client.get(reverse("admin:ordering_tender_add")).status_code == 403
    delete = reverse("admin:ordering_tender_delete", args=[paid.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    response = admin_client.post(tender_url(paid), {"amount": "1.00", "status": "voided"})
    assert response.status_code == 403
    paid.refresh_from_db()
    assert paid.status == TenderStatus.APPROVED
    assert str(paid.amount) == "4.50"


def test_the_tender_admin_needs_its_view_permission(paid):
    assert staff_client(username="nobody").get(TENDERS).status_code == 403
    viewer = staff_client("view_tender", username="tender-viewer")
    assert viewer.get(TENDERS).status_code == 200
    assert viewer.get(tender_url(paid)).status_code == 200


def test_tenders_are_found_by_last_four_or_order_number_never_by_full_number(
    admin_client, paid, card
):
    assert tender_url(paid) in body(admin_client.get(TENDERS, {"q": card[-4:]}))
    assert tender_url(paid) in body(admin_client.get(TENDERS, {"q": paid.order.number.lower()}))
    assert tender_url(paid) not in body(admin_client.get(TENDERS, {"q": "0000"}))
    refused = admin_client.get(TENDERS, {"q": card})
    assert refused.status_code == 303
    assert card not in refused["Location"]


def test_orders_are_found_by_number_last_four_email_and_name_beginning(admin_client, paid, card):
    orders = reverse("admin:ordering_order_changelist")
    order = paid.order
    for term in (order.number, order.number.lower(), card[-4:], "ADA@EXAMPLE.COM", "Ad", "ad"):
        assert order_url(order) in body(admin_client.get(orders, {"q": term})), term
    for term in ("0000", "da", "someone@example.com", order.number[:6]):
        assert order_url(order) not in body(admin_client.get(orders, {"q": term})), term
