"""Writing and reading Q-Bench data as Hugging Face datasets on disk (parquet shards + card)."""

from __future__ import annotations

import errno
import glob
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import datasets
import filelock
import pyarrow as pa
import pyarrow.parquet as pq

from qbench_tasks.data.location import CorruptDatasetError

logger = logging.getLogger(__name__)

# A shard closes at whichever comes first; keeps the converter's memory small on large photos.
SHARD_MAX_BYTES = 256 * 2**20
SHARD_MAX_ROWS = 5000


class DatasetWriteError(ValueError):
    """The dataset could not be written (disk full, read-only folder, ...); the previous one is
    kept and nothing half-written is left behind."""


# errno values that mean "this folder cannot take the dataset", as opposed to a bug.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def write_parquet_dataset(
    out_dir: str | os.PathLike,
    split: str,
    rows: Iterable[dict],
    features: datasets.Features,
    card: Callable[[dict[str, int]], str],
) -> int:
    """Write ``rows`` as split ``split`` of the dataset at ``out_dir``; return the rows written.

    Shards go to ``out_dir/data/<split>-NNNNN-of-NNNNN.parquet``; the other splits already there
    are kept. ``card({split: rows, ...})`` returns the README.md for all the splits.

    Safe against the ways a conversion goes wrong:
    - writers of one dataset are serialised by a lock file beside it, so two splits converted at
      once both land (the second keeps the first's split);
    - the dataset is assembled in a temporary folder beside ``out_dir`` and swapped in at the end,
      so an interrupted conversion leaves the previous dataset (or none), never half of one; a kill
      inside the swap itself is undone by the next writer or loader (:func:`recover_interrupted`),
      which also removes temporary folders that killed conversions left;
    - a full disk or a folder that cannot be written raises :class:`DatasetWriteError` saying so;
    - folders get the permissions of the user's umask, like any other folder they create.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with _writer_lock(out_dir):
            _recover(out_dir)
            return _write_locked(out_dir, split, rows, features, card)
    except OSError as err:
        if err.errno not in _WRITE_ERRNOS:
            raise
        raise DatasetWriteError(
            f"{out_dir}: cannot write the dataset ({err.strerror}: {err.filename or out_dir}); "
            "any previous dataset there is kept and nothing half-written is left"
        ) from None


def _write_locked(out_dir: Path, split: str, rows: Iterable[dict], features: datasets.Features,
                  card: Callable[[dict[str, int]], str]) -> int:
    tmp = _sibling(out_dir, "tmp")
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
            batch_bytes += sum(len(cell["bytes"]) for cell in row.values()
                               if isinstance(cell, dict) and "bytes" in cell)
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


def _sibling(out_dir: Path, role: str) -> Path:
    """A new empty hidden folder ``.<name>.<role>-<unique>`` beside ``out_dir``; made with
    mkdir (not mkdtemp, whose 0700 would keep a shared data folder's other users out)."""
    while True:
        path = out_dir.parent / f".{out_dir.name}.{role}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _writer_lock(out_dir: Path) -> filelock.FileLock:
    lock = filelock.FileLock(out_dir.parent / f".{out_dir.name}.lock")
    try:
        lock.acquire(timeout=0)
        lock.release()
    except filelock.Timeout:
        logger.warning("%s: another conversion is writing this dataset; waiting for it to finish", out_dir)
    return lock


def _recover(out_dir: Path) -> None:
    """Under the writer lock: put back a dataset a kill left moved aside mid-swap, and delete the
    temporary folders of killed conversions (no other writer can be using them)."""
    for old in sorted(out_dir.parent.glob(f".{glob.escape(out_dir.name)}.old-*")):
        if not out_dir.exists() and (old / out_dir.name).is_dir():
            os.replace(old / out_dir.name, out_dir)
            logger.warning("%s: restored the dataset an interrupted conversion had moved aside", out_dir)
        shutil.rmtree(old)
    for tmp in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.tmp-*"):
        shutil.rmtree(tmp)


def recover_interrupted(out_dir: Path) -> bool:
    """For a reader that finds no dataset at ``out_dir``: undo an interrupted swap if that is what
    happened; True when ``out_dir`` holds a dataset afterwards. Raises DatasetWriteError while a
    conversion into ``out_dir`` is running."""
    if not any(out_dir.parent.glob(f".{glob.escape(out_dir.name)}.old-*")):
        return False
    try:
        with filelock.FileLock(out_dir.parent / f".{out_dir.name}.lock", timeout=0):
            _recover(out_dir)
    except filelock.Timeout:
        raise DatasetWriteError(f"{out_dir}: a conversion into it is running; wait for it to finish") from None
    except OSError:  # a shared folder this user cannot write: leave it to its owner
        return False
    return out_dir.is_dir()


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
    """Move ``new`` to ``target``; an existing ``target`` is only deleted once ``new`` is in place
    (a kill in between leaves it in ``.<name>.old-*``, where :func:`_recover` finds it)."""
    old = None
    if target.exists():
        old = _sibling(target, "old")
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
    for shard in (shard for files in shards.values() for shard in files):
        checked_metadata(shard)
    data_files = {split: list(map(str, files)) for split, files in shards.items()}
    columns = None
    if skip_columns and shards:
        columns = [name for name in pq.read_schema(next(iter(shards.values()))[0]).names if name not in skip_columns]
    try:
        return datasets.load_dataset("parquet", data_files=data_files, columns=columns)
    except (pa.ArrowException, OSError) as err:
        raise CorruptDatasetError(f"{path}: a shard cannot be read ({failure_reason(err)}); "
                                  "convert the dataset again") from None


def checked_metadata(shard: Path) -> pq.FileMetaData:
    """The parquet footer of ``shard``; a cut or damaged one raises ``CorruptDatasetError`` naming it."""
    try:
        return pq.read_metadata(shard)
    except (pa.ArrowException, OSError) as err:
        raise CorruptDatasetError(f"{shard}: not a readable parquet shard ({failure_reason(err)}); the file was cut or "
                                  "damaged after conversion: convert the dataset again") from None


def failure_reason(err: Exception) -> str:
    """An error as one line: its type and message."""
    return f"{type(err).__name__}: {str(err).strip()}"


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
