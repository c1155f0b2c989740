"""Downloads that ``qbench fetch`` trusts: a hub file resumed where an earlier run stopped and
checked against the hub's SHA-256, a file from a URL checked against its git blob SHA-1, and the
free space checked before either. Every failure is a ``FetchError`` whose message is one line
saying what failed and where; nothing partial is left under a final name.

huggingface_hub 2.x no longer resumes a download across processes (each attempt writes its own
temporary file and deletes it on failure), so archives of several GB are fetched here with its
``http_get`` into one ``.part`` file that a later run continues.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import filelock

from qbench_tasks.data.location import cache_dir

DOWNLOAD_TIMEOUT_S = 60  # per connection attempt and read; a stalled server is an error, not a hang
_SHA256 = re.compile(r"[0-9a-f]{64}")
# What a full disk (or a file size limit) looks like to a write.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class FetchError(OSError):
    """A download or its check failed; the message is one line naming the file and the cause."""


def human_size(size: float) -> str:
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse ``what`` before it starts when ``folder``'s file system has less than ``needed`` free."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise FetchError(f"{what} needs {human_size(needed)} free in {folder}, which has {human_size(free)}: "
                         "free some space or choose another folder")


def disk_error(err: OSError, what: str, after: str = "nothing was kept") -> FetchError:
    """One line for a write that failed, saying so plainly when the disk is full."""
    cause = "the disk is full" if err.errno in DISK_FULL_ERRNOS else "cannot write"
    return FetchError(f"{what}: {cause} ({err.strerror or err}: {err.filename or ''}); {after}")


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file with these bytes (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def url_file(url: str, blob_sha1: str, name: str) -> Path:
    """The file at ``url``, refused unless its git blob SHA-1 is ``blob_sha1``; kept by that id
    in the download folder, so a later fetch reads it from there."""
    kept = downloads_dir() / "blobs" / blob_sha1 / name
    if kept.is_file() and git_blob_sha1(kept.read_bytes()) == blob_sha1:
        return kept
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except urllib.error.HTTPError as err:
        raise FetchError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"cannot download {url} ({reason}): is this machine online?") from None
    got = git_blob_sha1(data)
    if got != blob_sha1:
        raise FetchError(f"{url}: its git blob SHA-1 is {got}, not the pinned {blob_sha1}; refused "
                         "(a changed or damaged file)")
    _write_whole(kept, data, f"saving {name}")
    return kept


def _write_whole(path: Path, data: bytes, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    try:
        part.write_bytes(data)
        part.replace(path)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise disk_error(err, what) from None


def _hub_problem(err: Exception, url: str) -> FetchError:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(err, OfflineModeIsEnabled):
        return FetchError(f"cannot download {url}: HF_HUB_OFFLINE is set")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return FetchError(f"{url}: HTTP {err.response.status_code} {err.response.reason_phrase}")
    return FetchError(f"cannot download {url} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}): "
                      "is this machine online?")


@dataclass(frozen=True)
class HubEntry:
    """A file of a hub dataset repository as the hub describes it."""

    repo_id: str
    filename: str
    url: str  # where its bytes are served
    size: int
    etag: str  # for an LFS file, the SHA-256 of its bytes
    commit: str  # the repository commit the hub resolved the revision to


def hub_entry(repo_id: str, filename: str, revision: str) -> HubEntry:
    """What the hub says of ``filename`` in dataset ``repo_id`` at ``revision`` (nothing is downloaded)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, repo_type="dataset", revision=revision)
    try:
        meta = get_hf_file_metadata(url, timeout=DOWNLOAD_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - network and HTTP errors of every kind become one line
        raise _hub_problem(err, url) from None
    if meta.size is None or meta.etag is None or meta.commit_hash is None:
        raise FetchError(f"{url}: the hub's answer gave no size, ETag or commit")
    return HubEntry(repo_id, filename, meta.location, meta.size, meta.etag, meta.commit_hash)


def hub_cached(entry: HubEntry) -> Path | None:
    """The complete local copy of ``entry``, if there is one (ours, or the Hugging Face cache's)."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(entry.repo_id, entry.filename, revision=entry.commit, repo_type="dataset")
    if isinstance(cached, str):
        return Path(cached)
    ours = _kept_path(entry)
    return ours if ours.is_file() and ours.stat().st_size == entry.size else None


def _kept_path(entry: HubEntry) -> Path:
    return downloads_dir() / entry.repo_id.replace("/", "--") / entry.etag / entry.filename


def hub_download(entry: HubEntry) -> Path:
    """``entry`` on disk: downloaded, or resumed from an earlier run's ``.part``, into the download
    folder and checked against the hub's SHA-256 (its LFS ETag) before it gets its final name."""
    cached = hub_cached(entry)
    if cached is not None:
        return cached
    final = _kept_path(entry)
    final.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(final.with_name(final.name + ".lock")):  # one writer of the part at a time
        if final.is_file():  # another process finished it meanwhile
            return final
        _download_part(entry, final)
    return final


def _download_part(entry: HubEntry, final: Path) -> None:
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if have > entry.size:  # not a prefix of this file: start again
        part.unlink()
        have = 0
    what = f"downloading {entry.filename} ({human_size(entry.size)})"
    check_free_space(final.parent, entry.size - have, what)
    try:
        with part.open("ab") as out:
            http_get(entry.url, out, resume_size=have, headers=build_hf_headers(), expected_size=entry.size,
                     displayed_filename=entry.filename)
    except OSError as err:  # the part stays for the next run to resume
        if err.errno in DISK_FULL_ERRNOS:
            raise disk_error(err, what, "the part downloaded is kept: run again to resume") from None
        raise _hub_problem(err, entry.url) from None
    except Exception as err:  # noqa: BLE001 - network errors of every kind become one line
        raise _hub_problem(err, entry.url) from None
    if _SHA256.fullmatch(entry.etag):
        got = _sha256(part)
        if got != entry.etag:
            part.unlink()
            raise FetchError(f"{entry.url}: the download's SHA-256 is {got}, not the hub's {entry.etag}; "
                             "deleted: run again to download it anew")
    part.replace(final)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_quietly(path: Path) -> None:
    """Remove a file or folder this fetch made, if there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        os.unlink(path)
