"""Uploaded images served by the app itself: cacheable for a year, revalidated by ETag, and
nothing outside the uploaded images' folders ever served."""

import pytest
from django.test import override_settings


@pytest.fixture
def media(settings, tmp_path):
    root = tmp_path / "media"
    (root / "items").mkdir(parents=True)
    (root / "items" / "0123abcd-800.webp").write_bytes(b"RIFF....WEBPVP8 fake image bytes")
    # Files that must never be served: beside the media folder, and in it under other names.
    (tmp_path / "secret.webp").write_bytes(b"outside MEDIA_ROOT")
    (root / "items" / "notes.txt").write_bytes(b"not an image name")
    settings.MEDIA_ROOT = root
    return root


def test_an_image_is_served_with_a_year_of_caching_and_an_etag(client, media):
    response = client.get("/media/items/0123abcd-800.webp")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"RIFF....WEBPVP8 fake image bytes"
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["ETag"].startswith('"')
    assert response["Last-Modified"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response
    assert "Cookie" not in response.get("Vary", "")


def test_a_revalidation_with_the_etag_gets_a_304(client, media):
    etag = client.get("/media/items/0123abcd-800.webp")["ETag"]
    response = client.get("/media/items/0123abcd-800.webp", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["ETag"] == etag


@override_settings(DEBUG=False)
def test_it_is_served_with_debug_off(client, media):
    assert client.get("/media/items/0123abcd-800.webp").status_code == 200


def test_head_is_answered_and_a_post_is_not(client, media):
    assert client.head("/media/items/0123abcd-800.webp").status_code == 200
    assert client.post("/media/items/0123abcd-800.webp").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/media/items/unknown-800.webp",  # no such file
        "/media/items/notes.txt",  # not an image name
        "/media/../secret.webp",
        "/media/items/../../secret.webp",
        "/media/items/..%2F..%2Fsecret.webp",
        "/media/items/%2e%2e/%2e%2e/secret.webp",
        "/media/items/..\\..\\secret.webp",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/items",  # a folder
        "/media/other/0123abcd-800.webp",  # another folder
        "/media/items/sub/0123abcd-800.webp",
    ],
)
def test_anything_but_an_uploaded_image_is_a_404(client, media, path):
    response = client.get(path)
    assert response.status_code == 404, path
    assert b"outside MEDIA_ROOT" not in response.content
