"""Uploaded images made ready for guest pages: checked, turned upright, resized, re-encoded.

Every image staff upload (an item's photo, a store's logo or attract image) is opened with Pillow
and refused, with a sentence saying why, when it is too large, too small, not an image or not a
JPEG, PNG or WebP. What is kept is a new WebP file: re-encoding drops EXIF and every other
metadata (a phone's GPS position included), after the EXIF orientation has been applied and the
colours converted to sRGB. Files are named by their content's hash, so a name never changes
content and `ordering.media` can let browsers cache it for a year.
"""

import hashlib
import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from PIL import Image, ImageCms, ImageOps

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Checked from the header, before any pixel is decoded (a "decompression bomb" is refused cheaply).
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "MPO": "JPEG"}
WEBP_QUALITY = 80

# Item photos are cropped to 4:3, so pages can reserve their space without knowing the image.
PHOTO_SIZE = (800, 600)
THUMB_SIZE = (320, 240)
LOGO_BOX = (480, 160)
ATTRACT_BOX = (1920, 1920)
ATTRACT_MIN_WIDTH = 800


class UnusableImageError(ValueError):
    """An upload that cannot be used; `str()` is the sentence shown beside the field."""


@dataclass(frozen=True)
class ItemPhotoFiles:
    photo: ContentFile
    thumb: ContentFile


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _too_many_pixels(what: str) -> str:
    return (
        f"{what}; the largest accepted is {MAX_PIXELS // 1_000_000} megapixels "
        "(for example 7000 × 5000). Export a smaller copy and upload that."
    )


def open_upload(upload, *, min_size: tuple[int, int] = (1, 1)) -> Image.Image:
    """The uploaded file as a decoded, upright sRGB image, or `UnusableImageError` saying why not."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise UnusableImageError(
            f"This file is {_megabytes(size)}; the largest accepted is "
            f"{_megabytes(MAX_UPLOAD_BYTES)}. Export a smaller JPEG or WebP and upload that."
        )
    upload.seek(0)
    try:
        image = Image.open(upload)
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise UnusableImageError(
            _too_many_pixels("This image has hundreds of megapixels")
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise UnusableImageError(
            "This file is not an image that can be read. Upload a JPEG, PNG or WebP image."
        ) from None
    if image.format not in ACCEPTED_FORMATS:
        raise UnusableImageError(
            f"This is a {image.format or 'unknown'} image; upload a JPEG, PNG or WebP image."
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UnusableImageError(_too_many_pixels(f"This image is {width} × {height} pixels"))
    if width < min_size[0] or height < min_size[1]:
        raise UnusableImageError(
            f"This image is {width} × {height} pixels; it needs to be at least "
            f"{min_size[0]} × {min_size[1]} to look sharp."
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnusableImageError(
            "This image is damaged or cut short and cannot be read. Upload it again or export "
            "a new copy."
        ) from None
    return _to_srgb(image)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Colours as browsers show untagged images: an embedded profile (a phone's Display P3) is
    applied rather than dropped, so a photo does not turn dull once its metadata is gone."""
    keep_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if keep_alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode=mode
            )
        except (OSError, ValueError, ImageCms.PyCMSError):
            pass  # a broken profile: the pixels as they are
    return image.convert(mode)


def _on_white(image: Image.Image) -> Image.Image:
    """A photo's transparent parts on white (a photo tile is opaque)."""
    if image.mode != "RGBA":
        return image
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def _webp(image: Image.Image, label: str) -> ContentFile:
    out = io.BytesIO()
    # No exif=, icc_profile= or xmp= arguments: the new file carries no metadata at all.
    image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:20]
    return ContentFile(data, name=f"{digest}-{label}.webp")


def item_photo_files(upload) -> ItemPhotoFiles:
    """An item's photo, cropped to 4:3 around its centre: 800 × 600 and a 320 × 240 thumbnail."""
    image = _on_white(open_upload(upload, min_size=THUMB_SIZE))
    photo = ImageOps.fit(image, PHOTO_SIZE, Image.Resampling.LANCZOS)
    thumb = ImageOps.fit(image, THUMB_SIZE, Image.Resampling.LANCZOS)
    return ItemPhotoFiles(photo=_webp(photo, "800"), thumb=_webp(thumb, "320"))


def logo_file(upload) -> ContentFile:
    """A store's logo, fitted within 480 × 160 (never enlarged), transparency kept."""
    image = open_upload(upload, min_size=(32, 32))
    image.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
    return _webp(image, "logo")


def attract_file(upload) -> ContentFile:
    """The kiosk's attract image, fitted within 1920 × 1920 (never enlarged)."""
    image = _on_white(open_upload(upload, min_size=(ATTRACT_MIN_WIDTH, 1)))
    image.thumbnail(ATTRACT_BOX, Image.Resampling.LANCZOS)
    return _webp(image, "attract")


def set_item_photo(item, upload) -> None:
    """Put the processed photo and thumbnail on `item` (saved with it); raises `UnusableImageError`."""
    files = item_photo_files(upload)
    item.photo = files.photo
    item.photo_thumb = files.thumb
