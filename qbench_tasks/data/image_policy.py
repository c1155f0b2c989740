"""How an image file becomes the RGB picture a model sees: one policy, used both when
``qbench convert`` checks each file (so a bad one is refused early, by name) and when a task
decodes it for the model.

=========================================  =====================================================
input                                      result
=========================================  =====================================================
missing file, zero bytes, not an image     refused
not a regular file (FIFO, device), or      refused before anything is read (a FIFO would hang,
over ``MAX_FILE_BYTES``                    ``/dev/zero`` would fill memory)
a format outside ``RASTER_FORMATS``        refused: EPS, PS and PDF (run through Ghostscript by
                                           Pillow) and anything not a plain raster image
a side over ``MAX_ASPECT_RATIO`` x the     refused (a 30000x10 strip took 17 s and 3.7 GB in a
other                                      processor's resize)
truncated or otherwise corrupt data        refused (the whole file is decoded, nothing guessed)
JPEG data libjpeg reads only with a        refused at conversion (Pillow decodes it silently to
corrupt-data warning                       damaged pixels; ``check_jpeg_data``)
bytes that changed after conversion        refused when read (each image's SHA-256 is recorded
                                           at conversion: ``data.lazy_images``)
more pixels than Pillow's limit            refused (``Image.MAX_IMAGE_PIXELS``, 89.5 Mpx: the
(decompression bomb)                       size is read from the header, before any decoding)
smaller than ``MIN_SIDE`` pixels a side    refused (1x1 and other placeholder images)
EXIF orientation tag                       applied: pixels as any photo viewer shows them
animated GIF / PNG / WebP                  the first frame
CMYK (JPEG)                                Pillow's CMYK -> RGB conversion
16-bit grey (PNG ``I;16``, ``I``)           scaled to 8 bits (value / 257), then grey -> RGB
32-bit float grey (TIFF ``F``)              values in 0...1 scaled by 255, in 0...255 kept;
                                           others (negative, over 255, NaN) refused
grey, 1-bit, palette without transparency  ``convert("RGB")``
alpha (RGBA, LA, palette + transparency)   composited over white
RGB                                        unchanged
=========================================  =====================================================

The official Q-Bench scripts call ``Image.open(path).convert("RGB")``; on the databases' plain
RGB JPEGs and PNGs that is the same picture. They differ only where that call is wrong for the
file: it ignores EXIF rotation, clips 16-bit values to white, and keeps the hidden colour under
transparent pixels.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

MIN_SIDE = 8  # pixels; smaller images carry no quality to judge
MAX_ASPECT_RATIO = 20  # longer side over shorter: a panorama is ~4-8; beyond 20, a strip
MAX_FILE_BYTES = 512 * 2**20  # far above any IQA database's images
# The formats Pillow may open: raster images only (never EPS/PS/PDF, which run Ghostscript).
Image.init()  # registers every plugin Pillow has; ``formats=`` then limits which may open a file
RASTER_FORMATS = tuple(f for f in ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM") if f in Image.OPEN)
BACKGROUND = (255, 255, 255)  # what transparent pixels are shown over


class ImageRefused(ValueError):
    """An image that the policy refuses; the message names the image and the reason."""


def open_rgb(data: bytes, name: str, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode image file bytes into an RGB image under the policy (module docstring).

    ``name`` (the file or ``img_path``) goes into every error. ``draft`` lets a JPEG decode at a
    reduced scale of at least that size: a cheap full read of the data, for checking only.
    """
    if not data:
        raise ImageRefused(f"image file {name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; the policy refuses both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=RASTER_FORMATS)
            if min(image.size) < MIN_SIDE:
                raise ImageRefused(
                    f"image file {name} is {image.width}x{image.height} pixels, below the "
                    f"{MIN_SIDE}-pixel minimum side"
                )
            if max(image.size) > MAX_ASPECT_RATIO * min(image.size):
                raise ImageRefused(
                    f"image file {name} is {image.width}x{image.height} pixels, a side more than "
                    f"{MAX_ASPECT_RATIO} times the other"
                )
            if draft is not None:
                image.draft("RGB", draft)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageRefused(f"image file {name} is refused as a decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, ImageRefused):
            raise
        raise ImageRefused(f"image file {name} is not a readable image in an allowed format "
                           f"({', '.join(RASTER_FORMATS)}): {err}") from None
    return to_rgb(image, name)


def check_jpeg_data(data: bytes, name: str) -> None:
    """Refuse a JPEG whose entropy-coded data libjpeg can read only with a corrupt-data warning
    ("Corrupt JPEG data: ...", "Premature end of JPEG file"): Pillow ignores those warnings, so
    16 flipped bytes pass its decode 35 times in 40. libjpeg-turbo through simplejpeg's strict
    mode raises them; any other failure of that decoder (a JPEG it does not support) is left to
    Pillow's judgement."""
    if not data.startswith(b"\xff\xd8"):
        return
    try:
        simplejpeg.decode_jpeg(data, strict=True, min_width=64, min_height=64)
    except ValueError as err:
        if str(err).startswith(_LIBJPEG_CORRUPT_DATA):
            raise ImageRefused(f"image file {name} has corrupt JPEG data ({err})") from None


_LIBJPEG_CORRUPT_DATA = ("Corrupt JPEG data", "Premature end of JPEG file")


def to_rgb(image: Image.Image, name: str = "") -> Image.Image:
    """The RGB picture of an opened image: orientation, bit depth and alpha per the policy
    (``name`` goes into a refusal)."""
    image = ImageOps.exif_transpose(image)  # also a plain copy of the first frame if animated
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(_float_grey_as_8_bits(np.asarray(image, dtype=np.float64), name))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _float_grey_as_8_bits(grey: np.ndarray, name: str) -> np.ndarray:
    """Float pixels as 8 bits: 0...1 (how float images are usually stored) scaled by 255, 0...255
    kept; read as 0...255, a 0...1 image came out almost black."""
    low, high = (float(grey.min()), float(grey.max())) if np.isfinite(grey).all() else (math.nan, math.nan)
    if not 0.0 <= low <= high <= 255.0:
        raise ImageRefused(f"image file {name} has float pixels from {low} to {high}: neither 0-1 nor 0-255, "
                           "so their brightness cannot be told")
    scale = 255.0 if high <= 1.0 else 1.0
    return np.clip(np.rint(grey * scale), 0, 255).astype(np.uint8)


def read_rgb(path: str | os.PathLike, draft: tuple[int, int] | None = None) -> tuple[bytes, Image.Image]:
    """A file's bytes and its RGB picture; refused (``ImageRefused``) if missing or bad."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise ImageRefused(f"image file {path} is not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise ImageRefused(f"image file {path} is {status.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ImageRefused(f"image file {path} is missing") from None
    except OSError as err:
        raise ImageRefused(f"image file {path} cannot be read ({err.strerror or err})") from None
    return data, open_rgb(data, str(path), draft)
