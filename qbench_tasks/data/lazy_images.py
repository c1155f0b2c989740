"""Images that stay in the dataset's files until a batch needs them.

Every Q-Bench task reads its images through here, so each is decoded under
``qbench_tasks.data.image_policy`` and a bad one is named in the error; logged documents carry a
row reference instead of the image.

lm-eval builds every request before it runs any, and each request keeps its document and its
``doc_to_image`` result. With decoded images that is the whole database in memory at once
(1,000 KonIQ-sized images took 7 GB). So the A3 documents carry no image, only a row number and
the key of their split's image column, and ``doc_to_image`` hands out ``LazyImage`` references
that the model wrapper decodes batch by batch.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import threading
from collections import OrderedDict
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from qbench_tasks.data.conversion import image_hash_column
from qbench_tasks.data.image_policy import ImageRefused, open_rgb, read_rgb
from qbench_tasks.data.location import CorruptDatasetError
from qbench_tasks.data.parquet import (
    checked_metadata,
    failure_reason,
    load_parquet_dataset,
    split_shards,
    with_constant_columns,
)

# Document column (carrying the setting of that name) that lets the model wrapper decode JPEGs at a reduced
# scale no smaller than its processor's input: faster on large photos, but the model's input
# then differs slightly from a full decode + resize (bench/decode.py), so it is opt-in.
JPEG_DRAFT_KEY = "jpeg_draft"
IMAGE_SOURCE_COLUMN = "image_source"
IMAGE_ROW_COLUMN = "image_row"

# Row groups held in memory per split (datasets writes row groups of up to ~100 MB).
_ROW_GROUPS_KEPT = 2


class _ParquetImages:
    """One split's image column, read from its parquet shards a row group at a time with
    ordinary file reads. A memory-mapped dataset keeps every page it has read resident in the
    process, so a run over 10,000 images would end up holding the whole column; here only the
    last few row groups are held."""

    def __init__(self, shards: list[Path], column: str):
        self._shards, self._column = list(shards), column
        self._starts: list[int] = []  # first row of each (file, row group), in order
        self._groups: list[tuple[int, int]] = []
        row = 0
        for f, shard in enumerate(self._shards):
            metadata = checked_metadata(shard)
            for g in range(metadata.num_row_groups):
                self._starts.append(row)
                self._groups.append((f, g))
                row += metadata.row_group(g).num_rows
        self._open()

    def _open(self) -> None:
        self._kept: OrderedDict[int, object] = OrderedDict()
        self._lock = threading.Lock()  # the prefetch threads read concurrently

    # lm-eval pickles requests between processes (data parallel runs): send the shard paths only.
    def __getstate__(self) -> dict:
        return {"_shards": self._shards, "_column": self._column, "_starts": self._starts, "_groups": self._groups}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def cell(self, row: int) -> dict:
        group = bisect.bisect_right(self._starts, row) - 1
        with self._lock:
            if group not in self._kept:
                f, g = self._groups[group]
                # Opened for this read only: an open ParquetFile keeps its last read's buffers
                # (~one row group), so holding one per shard grew memory with the database.
                try:
                    with pq.ParquetFile(self._shards[f]) as shard:
                        columns = [self._column, image_hash_column(self._column)]
                        self._kept[group] = shard.read_row_group(
                            g, columns=[c for c in columns if c in shard.schema_arrow.names])
                except (pa.ArrowException, OSError) as err:
                    raise CorruptDatasetError(f"{self._shards[f]}: row group {g} cannot be read "
                                              f"({failure_reason(err)}); convert the dataset again") from None
                if len(self._kept) > _ROW_GROUPS_KEPT:
                    self._kept.popitem(last=False)
            self._kept.move_to_end(group)
            table, at = self._kept[group], row - self._starts[group]
            cell = table.column(self._column)[at].as_py()
            return {**cell, **_recorded_hash(table.column_names, lambda c: table.column(c)[at].as_py(),
                                             self._column, self._shards[self._groups[group][0]])}


class _DatasetImages:
    """One split's image column from a loaded dataset (hub data, whose files are not ours)."""

    def __init__(self, ds: datasets.Dataset, column: str):
        columns = [c for c in (column, image_hash_column(column)) if c in ds.column_names]
        self._images = ds.select_columns(columns).cast_column(column, datasets.Image(decode=False))
        self._column = column

    def cell(self, row: int) -> dict:
        values = self._images[row]
        return {**values[self._column], **_recorded_hash(self._images.column_names, values.get, self._column,
                                                         "the loaded dataset")}


def _recorded_hash(columns, value_of, column: str, where) -> dict:
    """The content hash recorded for ``column`` at conversion, and where it was read, as extra
    fields of an image cell; none for data converted before hashes were recorded."""
    name = image_hash_column(column)
    return {"sha256": value_of(name), "source": str(where)} if name in columns else {}


# Image columns of the loaded splits, by key; per process, filled as tasks load their data.
_SOURCES: dict[str, _ParquetImages | _DatasetImages] = {}


class LazyImage:
    """One image of a loaded dataset, decoded on demand under ``qbench_tasks.data.image_policy``."""

    __slots__ = ("_images", "_row", "name", "draft")

    def __init__(self, images: _ParquetImages | _DatasetImages, row: int, name: str, draft: bool = False):
        self._images, self._row, self.name = images, row, name
        self.draft = draft  # may a JPEG be decoded at a reduced scale (opt-in, see JPEG_DRAFT_KEY)

    def content_sha256(self) -> str:
        """Digest of the image file's bytes: the image's part of an lm-eval cache key."""
        cell = self._images.cell(self._row)
        data = cell["bytes"] if cell.get("bytes") is not None else Path(cell["path"]).read_bytes()
        return hashlib.sha256(data).hexdigest()

    def decode(self, min_size: tuple[int, int] | None = None) -> Image.Image:
        """The RGB image; with ``draft`` and ``min_size``, a JPEG is decoded at the smallest
        DCT scale that still covers ``min_size`` (much faster for large photos)."""
        return decode_image_cell(self._images.cell(self._row), self.name, min_size if self.draft else None)

    def __repr__(self) -> str:  # what lm-eval writes for it in logged samples
        return f"LazyImage({self.name!r})"


class SideBySide(LazyImage):
    """Several images as one, joined left to right at the lowest one's height (each scaled with
    its aspect kept): a Q-Bench+ pair for a model that takes one image. Decoded on demand, keyed
    by its parts' contents."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[LazyImage]):
        self.parts, self.name, self.draft = parts, " + ".join(part.name for part in parts), False

    def content_sha256(self) -> str:
        return hashlib.sha256("".join(part.content_sha256() for part in self.parts).encode()).hexdigest()

    def decode(self, min_size: tuple[int, int] | None = None) -> Image.Image:
        images = [part.decode() for part in self.parts]
        height = min(image.height for image in images)
        images = [image if image.height == height else
                  image.resize((max(1, round(image.width * height / image.height)), height), Image.Resampling.BICUBIC)
                  for image in images]
        joined = Image.new("RGB", (sum(image.width for image in images), height))
        for image, left in zip(images, itertools.accumulate([0] + [image.width for image in images])):
            joined.paste(image, (left, 0))
        return joined

    def __repr__(self) -> str:
        return f"SideBySide({self.name!r})"


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


def load_detached(
    path: Path, fields: dict | None = None, columns: tuple[str, ...] = ("image",)
) -> datasets.DatasetDict:
    """Every split of the converted dataset at ``path``, each row pointing at its image(s), which
    stay in the parquet shards until a batch reads them; ``fields`` are added to every row.

    The image columns are not loaded at all: loading them would copy every image into datasets'
    Arrow cache first (memory and disk growing with the database) only to be dropped here.
    """
    data = with_constant_columns(load_parquet_dataset(path, skip_columns=columns), fields or {})
    shards = split_shards(Path(path))
    return _point_at_images(data, {split: [_ParquetImages(shards[split], c) for c in columns] for split in data})


def detach_images(data: datasets.DatasetDict, columns: tuple[str, ...] = ("image",)) -> datasets.DatasetDict:
    """Every split of a loaded dataset (hub data, whose files are not ours) without its image
    columns, each row pointing at its images instead."""
    sources = {split: [_DatasetImages(ds, c) for c in columns] for split, ds in data.items()}
    detached = datasets.DatasetDict({s: ds.remove_columns(list(columns)) for s, ds in data.items()})
    return _point_at_images(detached, sources)


def _point_at_images(
    data: datasets.DatasetDict, sources: dict[str, list[_ParquetImages | _DatasetImages]]
) -> datasets.DatasetDict:
    out = {}
    for split, docs in data.items():
        keys = []
        for source in sources[split]:
            keys.append(f"{docs._fingerprint}-{source._column}")
            _SOURCES[keys[-1]] = source
        docs = docs.add_column(IMAGE_SOURCE_COLUMN, [keys] * len(docs))
        out[split] = docs.add_column(IMAGE_ROW_COLUMN, list(range(len(docs))))
    return datasets.DatasetDict(out)


def doc_to_lazy_image(doc: dict) -> list[LazyImage]:
    """``doc_to_image`` for documents from :func:`load_detached` or :func:`detach_images`: one
    reference per image column, in order (a Q-Bench+ pair: first image, second image)."""
    row, names, keys = doc[IMAGE_ROW_COLUMN], doc.get("img_path"), doc[IMAGE_SOURCE_COLUMN]
    if not isinstance(names, str):  # hub data has no file names: its id instead
        names = f"{doc.get('id', row)}"
    # One name for several images (a Q-Bench+ pair): each is that name and its column.
    names = [f"{names}:{_SOURCES[key]._column}" for key in keys] if len(keys) > 1 else [names]
    draft = bool(doc.get(JPEG_DRAFT_KEY, False))
    return [LazyImage(_SOURCES[key], row, name, draft) for key, name in zip(keys, names)]


def decode_image_cell(cell: dict, name: str, draft: tuple[int, int] | None = None) -> Image.Image:
    """An undecoded ``datasets.Image`` value (file bytes, or a path) as the policy's RGB image,
    refused (``ImageRefused``) when its bytes are not those whose hash conversion recorded."""
    if cell.get("bytes") is None:
        data, image = read_rgb(cell["path"], draft)
    else:
        data, image = cell["bytes"], None
    recorded = cell.get("sha256")
    if recorded is not None and hashlib.sha256(data).hexdigest() != recorded:
        raise ImageRefused(f"image {name} in {cell.get('source')}: its bytes are not those converted (their "
                           "SHA-256 differs from the one recorded at conversion): the file changed on disk; "
                           "convert the dataset again")
    return image if image is not None else open_rgb(data, name, draft)


def doc_to_decoded_image(doc: dict) -> list[Image.Image]:
    """``doc_to_image`` for documents from :func:`load_detached` or :func:`detach_images` whose model needs the picture
    itself (lm-eval's own generate_until): decoded as the requests are built."""
    return [image.decode() for image in doc_to_lazy_image(doc)]


def decoded(image, min_size: tuple[int, int] | None = None) -> Image.Image:
    """A PIL image for ``image``, which is one already or a :class:`LazyImage` (decoded now, at
    reduced JPEG scale down to ``min_size`` where its run allowed it)."""
    return image.decode(min_size) if isinstance(image, LazyImage) else image
