"""Demo data for `make run`: the demo store, its menu and its kiosk (`manage.py seed_demo`).

The demo store's logo and attract image and every item's photo are drawn by
`ordering.demo_pictures` and go through the staff upload's processing (`ordering.images`).
The demo gift cards are sandbox data: `python -m ecard_sandbox seed` creates them."""

import functools
from decimal import Decimal

# The demo store, with the eCard store id and online terminal id its payments carry.
DEMO_STORE = {
    "name": "Main Street café",
    "ecard_store_id": "store-001",
    "online_terminal_id": "web-01",
}
# The demo store's colours, set when it is created (staff may change them afterwards).
DEMO_LOOK = {"primary_color": "#7b3f1e", "accent_color": "#f2b134"}
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
    """Create or update the demo store and menu (idempotent); returns the number of items.

    Pictures are added where one is missing (never replacing a photo staff uploaded)."""
    from ordering.models import Category, Item, Store

    store, _ = Store.objects.update_or_create(
        ecard_store_id=DEMO_STORE["ecard_store_id"],
        defaults={
            "name": DEMO_STORE["name"],
            "online_terminal_id": DEMO_STORE["online_terminal_id"],
        },
        create_defaults={**DEMO_STORE, **DEMO_LOOK},
    )
    _seed_store_pictures(store)
    count = 0
    for category_order, (category_name, items) in enumerate(DEMO_MENU):
        category, _ = Category.objects.update_or_create(
            name=category_name, defaults={"sort_order": category_order}
        )
        for item_order, (name, description, price) in enumerate(items):
            item, _ = Item.objects.update_or_create(
                category=category,
                name=name,
                defaults={"description": description, "price": price, "sort_order": item_order},
            )
            _seed_item_photo(item, category_name)
            count += 1
    return count


def _missing(field) -> bool:
    """No file set, or its file gone (a cleaned var/ under a kept database)."""
    return not field or not field.storage.exists(field.name)


@functools.cache
def _item_photo_bytes(name: str, category: str) -> tuple[tuple[str, bytes], ...]:
    """The processed photo and thumbnail (name, bytes) of a demo item, made once per process."""
    from django.core.files.base import ContentFile

    from ordering import demo_pictures, images

    picture = demo_pictures.item_picture(name, category)
    if picture is None:
        return ()
    files = images.item_photo_files(ContentFile(picture))
    return tuple((f.name, f.read()) for f in (files.photo, files.thumb))


def _seed_item_photo(item, category_name: str) -> None:
    from django.core.files.base import ContentFile

    if not (_missing(item.photo) or _missing(item.photo_thumb)):
        return
    made = _item_photo_bytes(item.name, category_name)
    if not made:
        return
    (photo_name, photo), (thumb_name, thumb) = made
    item.photo = ContentFile(photo, name=photo_name)
    item.photo_thumb = ContentFile(thumb, name=thumb_name)
    item.save(update_fields=["photo", "photo_thumb"])


@functools.cache
def _store_picture_bytes(primary_color: str) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """The processed logo and attract image (name, bytes) in a brand colour, made once."""
    from django.core.files.base import ContentFile

    from ordering import demo_pictures, images

    brand = tuple(int(primary_color[i : i + 2], 16) for i in (1, 3, 5))
    logo = images.logo_file(ContentFile(demo_pictures.logo(brand)))
    attract = images.attract_file(ContentFile(demo_pictures.attract(brand)))
    return (logo.name, logo.read()), (attract.name, attract.read())


def _seed_store_pictures(store) -> None:
    from django.core.files.base import ContentFile

    if not (_missing(store.logo) or _missing(store.attract_image)):
        return
    (logo_name, logo), (attract_name, attract) = _store_picture_bytes(store.primary_color)
    changed = []
    if _missing(store.logo):
        store.logo = ContentFile(logo, name=logo_name)
        changed += ["logo", "logo_width", "logo_height"]
    if _missing(store.attract_image):
        store.attract_image = ContentFile(attract, name=attract_name)
        changed += ["attract_image", "attract_width", "attract_height"]
    store.save(update_fields=changed)
