"""Images that stay in the dataset's memory-mapped files until a batch needs them.

lm-eval builds every request before it runs any, and each request keeps its document and its
``doc_to_image`` result. With decoded images that is the whole database in memory at once
(1,000 KonIQ-sized images took 7 GB). So the A3 documents carry no image, only a row number and
the key of their split's image column, and ``doc_to_image`` hands out ``LazyImage`` references
that the model wrapper decodes batch by batch.
"""

from __future__ import annotations

import datasets
from PIL import Image

IMAGE_SOURCE_COLUMN = "image_source"
IMAGE_ROW_COLUMN = "image_row"

# Image columns of the loaded splits, by key; per process, filled as tasks load their data.
_SOURCES: dict[str, datasets.Dataset] = {}
_DECODER = datasets.Image()


class LazyImage:
    """One image of a loaded dataset, decoded (exactly as ``datasets`` decodes it) on demand."""

    __slots__ = ("_images", "_row", "name")

    def __init__(self, images: datasets.Dataset, row: int, name: str):
        self._images, self._row, self.name = images, row, name

    def decode(self) -> Image.Image:
        return _DECODER.decode_example(self._images[self._row]["image"])

    def __repr__(self) -> str:  # what lm-eval writes for it in logged samples
        return f"LazyImage({self.name!r})"


def detach_images(data: datasets.DatasetDict, column: str = "image") -> datasets.DatasetDict:
    """Every split without its image column, each row pointing at its image instead."""
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
    return [LazyImage(images, doc[IMAGE_ROW_COLUMN], doc.get("img_path", str(doc[IMAGE_ROW_COLUMN])))]


def decoded(image) -> Image.Image:
    """A PIL image for ``image``, which is one already or a :class:`LazyImage`."""
    return image.decode() if isinstance(image, LazyImage) else image
