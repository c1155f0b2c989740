"""Writing and reading Q-Bench data as Hugging Face datasets on disk (parquet shards + card)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import datasets
import pyarrow.parquet as pq

# A shard closes at whichever comes first; keeps the converter's memory small on large photos.
SHARD_MAX_BYTES = 256 * 2**20
SHARD_MAX_ROWS = 5000


def write_parquet_dataset(
    out_dir: str | os.PathLike,
    split: str,
    rows: Iterable[dict],
    features: datasets.Features,
    card: Callable[[dict[str, int]], str],
) -> int:
    """Write ``rows`` as split ``split`` of the dataset at ``out_dir``; return the rows written.

    Shards go to ``out_dir/data/<split>-NNNNN-of-NNNNN.parquet``; the other splits already there
    are kept. ``card({split: rows, ...})`` returns the README.md for all the splits. The dataset is
    assembled in a temporary folder beside ``out_dir`` and moved into place at the end, so an
    interrupted conversion leaves the previous dataset (or none), never half of one.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        (tmp / "data").mkdir()
        counts = _keep_other_splits(out_dir, tmp, split)
        shards: list[Path] = []
        batch: list[dict] = []
        batch_bytes = 0
        total = 0

        def flush() -> None:
            shard = tmp / "data" / f"{split}-{len(shards):05d}.parquet"
            datasets.Dataset.from_list(batch, features=features).to_parquet(str(shard))
            shards.append(shard)

        for row in rows:
            batch.append(row)
            batch_bytes += len(row["image"]["bytes"])
            total += 1
            if batch_bytes >= SHARD_MAX_BYTES or len(batch) >= SHARD_MAX_ROWS:
                flush()
                batch, batch_bytes = [], 0
        if batch or not shards:
            flush()
        for i, shard in enumerate(shards):
            shard.rename(shard.with_name(f"{split}-{i:05d}-of-{len(shards):05d}.parquet"))
        counts[split] = total
        (tmp / "README.md").write_text(card(dict(sorted(counts.items()))), encoding="utf-8")
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return total


def split_shards(folder: Path) -> dict[str, list[Path]]:
    """Split name -> its parquet shards, in order, of a folder written by write_parquet_dataset."""
    files: dict[str, list[Path]] = {}
    for shard in sorted((folder / "data").glob("*-of-*.parquet")):
        files.setdefault(shard.name.split("-", 1)[0], []).append(shard)
    return files


def _keep_other_splits(existing: Path, tmp: Path, replaced: str) -> dict[str, int]:
    """Copy the shards of every split but ``replaced`` into ``tmp``; return their row counts."""
    counts = {}
    for split, shards in split_shards(existing).items():
        if split != replaced:
            for shard in shards:
                shutil.copy2(shard, tmp / "data" / shard.name)
            counts[split] = sum(pq.ParquetFile(shard).metadata.num_rows for shard in shards)
    return counts


def replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is only deleted once ``new`` is in place."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)


def load_parquet_dataset(path: str | os.PathLike, skip_columns: Sequence[str] = ()) -> datasets.DatasetDict:
    """The splits of a folder written by :func:`write_parquet_dataset`, without ``skip_columns``.

    Loaded through the parquet builder with explicit files rather than ``load_dataset(path)``:
    datasets 5.x caches a local folder under its name alone, so a re-converted dataset, or
    another folder of the same name, would silently come back from the stale cache. The
    parquet builder's cache key includes the files' paths and modification times.
    """
    shards = split_shards(Path(path))
    data_files = {split: list(map(str, files)) for split, files in shards.items()}
    if not skip_columns or not shards:
        return datasets.load_dataset("parquet", data_files=data_files)
    columns = [name for name in pq.read_schema(next(iter(shards.values()))[0]).names if name not in skip_columns]
    return datasets.load_dataset("parquet", data_files=data_files, columns=columns)


def with_constant_columns(data: datasets.DatasetDict, fields: dict) -> datasets.DatasetDict:
    """Every split of ``data`` with one extra column per field, holding the same value in every row.

    Used to carry run-time settings (e.g. the A3 prompt chosen with --metadata) into the
    documents, where lm-eval's doc_to_text / gen_prefix / doc_to_choice can read them.
    """
    out = {}
    for split, ds in data.items():
        for name, value in fields.items():
            ds = ds.add_column(name, [value] * len(ds))
        out[split] = ds
    return datasets.DatasetDict(out)
