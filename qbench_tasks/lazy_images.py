"""Images that stay in the dataset's memory-mapped files until a batch needs them.

Every Q-Bench task reads its images through here, so each is decoded under
``qbench_tasks.image_policy`` and a bad one is named in the error; logged documents carry a
row reference instead of the image.

lm-eval builds every request before it runs any, and each request keeps its document and its
``doc_to_image`` result. With decoded images that is the whole database in memory at once
(1,000 KonIQ-sized images took 7 GB). So the A3 documents carry no image, only a row number and
the key of their split's image column, and ``doc_to_image`` hands out ``LazyImage`` references
that the model wrapper decodes batch by batch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
from PIL import Image

from qbench_tasks.image_policy import open_rgb, read_rgb

# --metadata key (and document column) that lets the model wrapper decode JPEGs at a reduced
# scale no smaller than its processor's input: faster on large photos, but the model's input
# then differs slightly from a full decode + resize (bench/decode.py), so it is opt-in.
JPEG_DRAFT_KEY = "jpeg_draft"
IMAGE_SOURCE_COLUMN = "image_source"
IMAGE_ROW_COLUMN = "image_row"

# Image columns of the loaded splits, by key; per process, filled as tasks load their data.
_SOURCES: dict[str, datasets.Dataset] = {}


class LazyImage:
    """One image of a loaded dataset, decoded on demand under ``qbench_tasks.image_policy``."""

    __slots__ = ("_images", "_row", "name", "draft")

    def __init__(self, images: datasets.Dataset, row: int, name: str, draft: bool = False):
        self._images, self._row, self.name = images, row, name
        self.draft = draft  # may a JPEG be decoded at a reduced scale (opt-in, see JPEG_DRAFT_KEY)

    def content_sha256(self) -> str:
        """Digest of the image file's bytes: the image's part of an lm-eval cache key."""
        cell = self._images[self._row]["image"]
        data = cell["bytes"] if cell.get("bytes") is not None else Path(cell["path"]).read_bytes()
        return hashlib.sha256(data).hexdigest()

    def decode(self, min_size: tuple[int, int] | None = None) -> Image.Image:
        """The RGB image; with ``draft`` and ``min_size``, a JPEG is decoded at the smallest
        DCT scale that still covers ``min_size`` (much faster for large photos)."""
        return decode_image_cell(self._images[self._row]["image"], self.name, min_size if self.draft else None)

    def __repr__(self) -> str:  # what lm-eval writes for it in logged samples
        return f"LazyImage({self.name!r})"


def _cache_key_part(obj):
    """lm-eval's JSON ``default`` for cache keys, taught to key a LazyImage by its content."""
    if isinstance(obj, LazyImage):
        return {"__qbench_image_sha256__": obj.content_sha256()}
    return _LM_EVAL_CACHE_KEY_PART(obj)


def install_cache_key_hook() -> bool:
    """Let ``--use_cache`` hash LazyImage requests (lm-eval knows only PIL images and bytes).

    lm-eval 0.4.13 builds cache keys with ``json.dumps(..., default=_multimodal_cache_default)``
    and raises TypeError on anything else; where that function is missing, caching keeps
    lm-eval's own behaviour.
    """
    global _LM_EVAL_CACHE_KEY_PART
    import lm_eval.api.model as lm_model

    current = getattr(lm_model, "_multimodal_cache_default", None)
    if current is None:
        return False
    if current is not _cache_key_part:
        _LM_EVAL_CACHE_KEY_PART = current
        lm_model._multimodal_cache_default = _cache_key_part
    return True


_LM_EVAL_CACHE_KEY_PART = None


def detach_images(data: datasets.DatasetDict, column: str = "image") -> datasets.DatasetDict:
    """Every split without its image column, each row pointing at its image instead."""
    install_cache_key_hook()
    out = {}
    for split, ds in data.items():
        images = ds.select_columns([column]).cast_column(column, datasets.Image(decode=False))
        key = images._fingerprint
        _SOURCES[key] = images
        docs = ds.remove_columns(column)
        docs = docs.add_column(IMAGE_SOURCE_COLUMN, [key] * len(docs))
        out[split] = docs.add_column(IMAGE_ROW_COLUMN, list(range(len(docs))))
    return datasets.DatasetDict(out)


def doc_to_lazy_image(doc: dict) -> list[LazyImage]:
    """``doc_to_image`` for documents from :func:`detach_images`."""
    images = _SOURCES[doc[IMAGE_SOURCE_COLUMN]]
    name = doc.get("img_path", str(doc[IMAGE_ROW_COLUMN]))
    return [LazyImage(images, doc[IMAGE_ROW_COLUMN], name, bool(doc.get(JPEG_DRAFT_KEY, False)))]


def decode_image_cell(cell: dict, name: str, draft: tuple[int, int] | None = None) -> Image.Image:
    """An undecoded ``datasets.Image`` value (file bytes, or a path) as the policy's RGB image."""
    if cell.get("bytes") is None:
        return read_rgb(cell["path"], draft)[1]
    return open_rgb(cell["bytes"], name, draft)


def doc_to_decoded_image(doc: dict) -> list[Image.Image]:
    """``doc_to_image`` for documents from :func:`detach_images` whose model needs the picture
    itself (lm-eval's own generate_until): decoded as the requests are built."""
    return [image.decode() for image in doc_to_lazy_image(doc)]


def decoded(image, min_size: tuple[int, int] | None = None) -> Image.Image:
    """A PIL image for ``image``, which is one already or a :class:`LazyImage` (decoded now, at
    reduced JPEG scale down to ``min_size`` where its run allowed it)."""
    return image.decode(min_size) if isinstance(image, LazyImage) else image
