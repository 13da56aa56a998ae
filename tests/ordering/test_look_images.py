"""Item photos and store images uploaded by staff through the admin's forms: resized, re-encoded
without metadata, refused with a sentence when unusable; and the demo seed's own pictures."""

import io
import struct
import zlib
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.template.loader import render_to_string
from django.urls import reverse
from PIL import Image

from ordering import demo, images
from ordering.models import Category, Item, Store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def item(db):
    coffee = Category.objects.create(name="Coffee")
    return Item.objects.create(category=coffee, name="Latte", price=Decimal("4.50"))


def _photo(size=(1200, 1600), fmt="JPEG", *, exif=True) -> bytes:
    """A test photo: a red top half and a blue bottom half, with EXIF (orientation: rotate
    90° clockwise to view, as phones write it; an artist and a camera model)."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, size[1] // 2, size[0], size[1]))
    out = io.BytesIO()
    extra = {}
    if exif:
        tags = Image.Exif()
        tags[0x0112] = 6  # Orientation
        tags[0x013B] = "Ada the photographer"  # Artist
        tags[0x0110] = "PhoneCam 12"  # Model
        extra["exif"] = tags.tobytes()
    image.save(out, fmt, **extra)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces `width` × `height` pixels, with (almost) no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def _item_form(item: Item, **changes) -> dict:
    data = {
        "category": item.category_id,
        "name": item.name,
        "description": item.description,
        "price": str(item.price),
        "available": "on",
        "sort_order": item.sort_order,
    }
    data.update(changes)
    return data


def _upload(admin_client, item, content: bytes, filename="photo.jpg", **changes):
    upload = SimpleUploadedFile(filename, content, content_type="image/jpeg")
    return admin_client.post(
        reverse("admin:ordering_item_change", args=[item.id]),
        _item_form(item, photo=upload, **changes),
    )


def test_staff_upload_a_photo_and_it_is_cropped_resized_and_stripped(
    admin_client, item, media_root
):
    response = _upload(admin_client, item, _photo())
    assert response.status_code == 302, response.content.decode()[:2000]
    item.refresh_from_db()
    assert item.photo.name.startswith("items/")
    assert item.photo.name.endswith("-800.webp")
    assert item.photo_thumb.name.endswith("-320.webp")
    for field, size in ((item.photo, images.PHOTO_SIZE), (item.photo_thumb, images.THUMB_SIZE)):
        with Image.open(media_root / field.name) as stored:
            assert stored.format == "WEBP"
            assert stored.size == size
            # No metadata kept: no EXIF at all (the artist, the camera), no XMP.
            assert not stored.getexif()
            assert "exif" not in stored.info
            assert "xmp" not in stored.info
            # Turned upright first: the portrait red-over-blue photo, rotated 90° clockwise as its
            # orientation asks, has red on the right and blue on the left.
            rgb = stored.convert("RGB")
            left, right = rgb.getpixel((5, size[1] // 2)), rgb.getpixel((size[0] - 5, size[1] // 2))
            assert left[2] > 150 > left[0], ("blue on the left", left)
            assert right[0] > 150 > right[2], ("red on the right", right)
    assert b"Ada the photographer" not in (media_root / item.photo.name).read_bytes()


def test_the_item_list_and_form_show_the_photo(admin_client, item):
    _upload(admin_client, item, _photo())
    item.refresh_from_db()
    listing = admin_client.get(reverse("admin:ordering_item_changelist")).content.decode()
    assert f'src="/media/{item.photo_thumb.name}"' in listing
    form = admin_client.get(reverse("admin:ordering_item_change", args=[item.id])).content
    assert f'src="/media/{item.photo_thumb.name}"' in form.decode()


def test_a_png_with_transparency_is_flattened_onto_white(admin_client, item, media_root):
    image = Image.new("RGBA", (640, 480), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    assert _upload(admin_client, item, out.getvalue(), filename="logo.png").status_code == 302
    item.refresh_from_db()
    with Image.open(media_root / item.photo.name) as stored:
        assert stored.convert("RGB").getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("content", "filename", "sentence"),
    [
        (b"this is not an image", "photo.jpg", "This file is not an image that can be read."),
        (b"plain text", "notes.txt", "This file is not an image that can be read."),
        (None, "anim.gif", "This is a GIF image; upload a JPEG, PNG or WebP image."),
        (None, "tiny.jpg", "This image is 100 × 80 pixels; it needs to be at least 320 × 240"),
        (None, "huge.png", "This image is 8000 × 6000 pixels; the largest accepted is 40"),
        (None, "bomb.png", "This image has hundreds of megapixels; the largest accepted is 40"),
        (b"\0" * (images.MAX_UPLOAD_BYTES + 1), "big.jpg", "This file is 10.0 MB; the largest"),
        (None, "cut.jpg", "This image is damaged or cut short"),
    ],
)
def test_an_unusable_file_is_refused_with_a_sentence_and_nothing_changes(
    admin_client, item, media_root, content, filename, sentence
):
    if filename == "anim.gif":
        content = _photo(fmt="GIF", exif=False)
    elif filename == "tiny.jpg":
        content = _photo(size=(100, 80))
    elif filename == "huge.png":
        out = io.BytesIO()
        Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 megapixels, a few KB
        content = out.getvalue()
    elif filename == "bomb.png":
        content = _png_header(50_000, 50_000)  # 2.5 gigapixels announced in 100 bytes
    elif filename == "cut.jpg":
        content = _photo()[:3000]
    response = _upload(admin_client, item, content, filename=filename, name="Renamed")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["photo"]
    assert sentence in errors["photo"][0]
    item.refresh_from_db()
    assert (item.name, item.photo.name, item.photo_thumb.name) == ("Latte", "", "")
    assert not (media_root / "items").exists()


def test_clearing_the_photo_clears_the_thumbnail_too(admin_client, item):
    _upload(admin_client, item, _photo())
    response = admin_client.post(
        reverse("admin:ordering_item_change", args=[item.id]),
        _item_form(item, **{"photo-clear": "on"}),
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert not item.photo
    assert not item.photo_thumb


def test_staff_upload_a_store_logo_and_attract_image(admin_client, media_root):
    store = Store.objects.create(name="Harbour", ecard_store_id="s-1")
    logo = Image.new("RGBA", (1200, 600), (0, 0, 0, 0))
    logo.paste((11, 61, 145, 255), (300, 150, 900, 450))
    out = io.BytesIO()
    logo.save(out, "PNG")
    response = admin_client.post(
        reverse("admin:ordering_store_change", args=[store.id]),
        {
            "name": store.name,
            "ecard_store_id": store.ecard_store_id,
            "online_terminal_id": store.online_terminal_id,
            "takes_online_orders": "on",
            "sort_order": 0,
            "primary_color": "#0b3d91",
            "accent_color": "#f2a900",
            "logo": SimpleUploadedFile("logo.png", out.getvalue(), content_type="image/png"),
            "attract_image": SimpleUploadedFile("big.jpg", _photo(size=(3000, 2000))),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    store.refresh_from_db()
    assert (store.logo_width, store.logo_height) == (320, 160)  # fitted within 480 × 160
    with Image.open(media_root / store.logo.name) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((2, 2))[3] == 0
    # 3000 × 2000 turned upright by its EXIF, fitted within 1920 × 1920.
    assert (store.attract_width, store.attract_height) == (1280, 1920)
    page = admin_client.get(reverse("admin:ordering_store_change", args=[store.id])).content
    assert f'src="/media/{store.logo.name}"' in page.decode()


def test_the_photo_partial_reserves_its_space_and_loads_lazily(admin_client, item):
    assert render_to_string("_item_photo.html", {"item": item, "size": "thumb"}).strip() == ""
    _upload(admin_client, item, _photo())
    item.refresh_from_db()
    thumb = render_to_string("_item_photo.html", {"item": item, "size": "thumb"})
    assert f'src="/media/{item.photo_thumb.name}"' in thumb
    assert f"/media/{item.photo.name} 800w" in thumb
    assert 'width="320" height="240"' in thumb
    assert 'loading="lazy"' in thumb
    large = render_to_string("_item_photo.html", {"item": item, "size": "large", "alt": "Latte"})
    assert 'width="800" height="600"' in large
    assert 'alt="Latte"' in large
    assert (images.PHOTO_SIZE, images.THUMB_SIZE) == ((800, 600), (320, 240))  # as the partial says


def test_seed_demo_gives_every_item_a_small_photo_and_the_store_its_pictures(
    settings, media_root, capsys
):
    settings.DEBUG = True
    call_command("seed_demo")
    first = {item.name: (item.photo.name, item.photo_thumb.name) for item in Item.objects.all()}
    assert len(first) == 8
    for photo, thumb in first.values():
        for name in (photo, thumb):
            assert (media_root / name).stat().st_size <= 30 * 1024
        with Image.open(media_root / photo) as stored:
            assert stored.size == images.PHOTO_SIZE
    store = Store.objects.get(ecard_store_id="store-001")
    assert store.logo
    assert store.attract_image
    assert (media_root / store.attract_image.name).stat().st_size <= 30 * 1024
    # Seeding again keeps what is there; the drawings are the same bytes every time.
    call_command("seed_demo")
    again = {item.name: (item.photo.name, item.photo_thumb.name) for item in Item.objects.all()}
    assert again == first
    assert len(list((media_root / "items").iterdir())) == 16
    assert len(set(first.values())) == 8  # a picture per item, not one for all
    demo._item_photo_bytes.cache_clear()
    (photo_name, _photo_bytes), _thumb = demo._item_photo_bytes("Latte", "Coffee")
    assert first["Latte"][0] == f"items/{photo_name}"  # drawn again: the same bytes, same hash
