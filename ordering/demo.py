"""Demo data for `make run`: the demo store, its menu and its kiosk (`manage.py seed_demo`).

The demo gift cards are sandbox data: `python -m ecard_sandbox seed` creates them."""

from decimal import Decimal

# The demo store, with the eCard store id and online terminal id its payments carry.
DEMO_STORE = {
    "name": "Main Street café",
    "ecard_store_id": "store-001",
    "online_terminal_id": "web-01",
}
# The demo kiosk at the demo store; `seed_demo` prints a one-step enrollment link for it.
DEMO_KIOSK = {"name": "Demo kiosk", "terminal_id": "kiosk-01"}
# The demo menu: (category, [(name, description, price), ...]), in menu order.
DEMO_MENU = [
    (
        "Coffee",
        [
            ("Espresso", "A double shot of our house blend.", Decimal("3.00")),
            ("Latte", "Espresso with steamed milk.", Decimal("4.50")),
            ("Cappuccino", "Espresso, steamed milk and foam.", Decimal("4.25")),
        ],
    ),
    (
        "Food",
        [
            ("Croissant", "Butter croissant, baked this morning.", Decimal("3.25")),
            ("Avocado toast", "Sourdough, avocado, lemon and chili.", Decimal("9.50")),
            ("Club sandwich", "Chicken, bacon, lettuce and tomato.", Decimal("12.75")),
        ],
    ),
    (
        "Treats",
        [
            ("Chocolate cake", "A generous slice.", Decimal("6.00")),
            ("Gift box of cookies", "A dozen assorted cookies.", Decimal("32.00")),
        ],
    ),
]


def seed_menu() -> int:
    """Create or update the demo store and menu (idempotent); returns the number of items."""
    from ordering.models import Category, Item, Store

    Store.objects.update_or_create(
        ecard_store_id=DEMO_STORE["ecard_store_id"],
        defaults={
            "name": DEMO_STORE["name"],
            "online_terminal_id": DEMO_STORE["online_terminal_id"],
        },
    )
    count = 0
    for category_order, (category_name, items) in enumerate(DEMO_MENU):
        category, _ = Category.objects.update_or_create(
            name=category_name, defaults={"sort_order": category_order}
        )
        for item_order, (name, description, price) in enumerate(items):
            Item.objects.update_or_create(
                category=category,
                name=name,
                defaults={"description": description, "price": price, "sort_order": item_order},
            )
            count += 1
    return count
