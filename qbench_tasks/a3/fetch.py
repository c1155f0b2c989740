"""``qbench fetch a3``: an A3 database from where its authors publish it to a converted dataset.

The images come from the Q-Bench authors' archive on the hub (``databases.IMAGES_REPO``), the
MOS labels from the Q-Bench repository at a pinned commit, each label file checked against its
git blob SHA-1. How an archive lays out its images is not part of any release note, so each
label row's ``img_path`` is looked up in the archive by its trailing path (file name, and any
folders it names), exactly, else ignoring case; where several members match, the one under the
folder the official script reads (``official_image_root``) wins. A row with no image, or with
several equally good ones, stops the fetch, naming the rows. Only the labelled images are
extracted, into a staging folder beside the dataset, and converted with ``convert_a3``; the
staging folder goes whatever happens, and the converter replaces a dataset only when the new
one is whole.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import filelock
from tqdm import tqdm

from qbench_tasks.a3.convert import convert_a3, read_a3_labels
from qbench_tasks.a3.databases import (
    IMAGES_REPO,
    IMAGES_REPO_URL,
    LABELS_COMMIT,
    LABELS_REPO_URL,
    LABELS_URL,
    LABELS_URL_ENV,
    IQADatabase,
)
from qbench_tasks.data.conversion import ConversionError, ConversionReport
from qbench_tasks.data.download import (
    FetchError,
    HubEntry,
    check_free_space,
    disk_error,
    hub_cached,
    hub_download,
    hub_entry,
    human_size,
    remove_quietly,
    url_file,
)

FETCH_ENV = "QBENCH_FETCH"  # "0" / "false": tasks do not fetch missing A3 data
SHOWN_ROWS = 5  # rows named in an error about missing images


def labels_url(db: IQADatabase) -> str:
    return f"{(os.environ.get(LABELS_URL_ENV) or LABELS_URL).rstrip('/')}/{db.official_labels}"


def fetch_command(db: IQADatabase, data_dir: Path) -> str:
    return f"qbench fetch a3 --database {db.name} --out {data_dir}"


def fetching_allowed(setting: bool) -> tuple[bool, str]:
    """Whether a task may fetch missing data, and what turned it off."""
    if not setting:
        return False, 'the setting qbench_fetch is false'
    if os.environ.get(FETCH_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False, f"{FETCH_ENV}={os.environ[FETCH_ENV]}"
    return True, ""


def _tail(path: str) -> tuple[str, ...]:
    return PurePosixPath(path.replace("\\", "/")).parts


def _ends_with(member: tuple[str, ...], wanted: tuple[str, ...], fold: bool) -> bool:
    tail = member[-len(wanted):]
    return [p.casefold() for p in tail] == [p.casefold() for p in wanted] if fold else tail == wanted


def labelled_members(archive: tarfile.TarFile, name: str, rows: list[dict], db: IQADatabase,
                     labels: str) -> dict[str, tarfile.TarInfo]:
    """img_path -> the archive member holding it, for every label row; ConversionError naming
    the rows without an image (or with several) otherwise."""
    by_name: dict[str, list[tuple[tuple[str, ...], tarfile.TarInfo]]] = defaultdict(list)
    for member in archive:
        parts = _tail(member.name)
        if member.isfile() and parts:
            by_name[parts[-1].casefold()].append((parts, member))
    root = _tail(db.official_image_root) if db.official_image_root else ()
    found: dict[str, tarfile.TarInfo] = {}
    missing, ambiguous = [], []
    for i, row in enumerate(rows):
        wanted = _tail(row["img_path"])
        near = by_name.get(wanted[-1].casefold(), [])
        for fold in (False, True):
            matches = [(p, m) for p, m in near if _ends_with(p, wanted, fold)]
            if len(matches) > 1 and root:
                under_root = [(p, m) for p, m in matches if _ends_with(p, root + wanted, fold)]
                matches = under_root or matches
            if matches:
                break
        if not matches:
            missing.append(f"{i} ({row['img_path']})")
        elif len(matches) > 1:
            ambiguous.append(f"{i} ({row['img_path']}: {', '.join(m.name for _, m in matches[:3])})")
        else:
            found[row["img_path"]] = matches[0][1]
    for problem, rows_named in (("has no image for", missing), ("has several images for", ambiguous)):
        if rows_named:
            shown = "; ".join(rows_named[:SHOWN_ROWS]) + ("; ..." if len(rows_named) > SHOWN_ROWS else "")
            raise ConversionError(f"{name} {problem} {len(rows_named)} of the {len(rows)} rows of {labels}: "
                                  f"rows {shown}; nothing was converted")
    return found


def _extract(archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], staging: Path, labels: str) -> None:
    """Each labelled image to ``staging/<img_path>`` (an img_path leaving the folder is refused)."""
    for img_path, member in tqdm(members.items(), desc="extracting", unit="image", leave=False):
        relative = PurePosixPath(img_path.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts:
            raise ConversionError(f"{labels}: img_path {img_path!r} leads outside the images folder")
        target = staging.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.extractfile(member) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)


def _card_source(db: IQADatabase, entry: HubEntry, used: int, url: str) -> str:
    return (
        f"Fetched by `qbench fetch a3` (lm-eval-qbench). Images: `{db.archive}` "
        f"({human_size(entry.size)}, SHA-256 `{entry.etag}`) from the Q-Bench authors' hub dataset "
        f"[{IMAGES_REPO}]({IMAGES_REPO_URL}) at commit `{entry.commit}`; the {used} images the labels "
        f"name were taken from it, each found by its file name (these archives may hold the "
        f"{db.title} images resized or re-encoded, not as the database's own site distributes them). "
        f"Labels: `{db.official_labels}` from <{url}>, the file of [Q-Bench]({LABELS_REPO_URL}) "
        f"`a3_iqa_databases/jsons/` at commit `{LABELS_COMMIT}` (git blob `{db.labels_blob}`, checked), "
        "`gt_score` cast to float."
    )


def _card_licensing(db: IQADatabase) -> str:
    return (
        f"Labels: the Q-Bench authors' files, for non-commercial research use ({LABELS_REPO_URL}). Images: "
        f"under the {db.title} database's own terms ({db.homepage}); the hub archive's tag does not replace "
        "them. Check both before redistributing this dataset."
    )


def fetch_a3(db: IQADatabase, data_dir: Path, revision: str = "main", skip_bad: bool = False,
             say: Callable[[str], None] = print) -> ConversionReport:
    """Download (or reuse) ``db``'s archive and label file, and convert into ``data_dir/<name>``."""
    if db.archive is None or db.labels_blob is None:
        raise ConversionError(f"{db.title} has no published source to fetch from")
    url = labels_url(db)
    entry = hub_entry(IMAGES_REPO, db.archive, revision)
    cached = hub_cached(entry) is not None
    say(f"{db.title}: images from {db.archive} in {IMAGES_REPO} ({human_size(entry.size)}"
        f"{', already downloaded' if cached else ' to download'}), labels from {url}")
    labels = url_file(url, db.labels_blob, db.official_labels)
    rows = read_a3_labels(labels)  # a bad label file stops the fetch before the archive downloads
    archive_path = hub_download(entry)
    staging = data_dir / f".{db.name}.fetching"
    try:
        with tarfile.open(archive_path) as archive:
            members = labelled_members(archive, db.archive, rows, db, db.official_labels)
            size = sum(m.size for m in members.values())
            # the extracted images, then the dataset's copy of them
            check_free_space(data_dir, 2 * size, f"extracting and converting {len(members)} {db.title} "
                                                  f"images ({human_size(size)})")
            say(f"{db.title}: extracting the {len(members)} labelled images ({human_size(size)})")
            data_dir.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(data_dir / f".{db.name}.fetch.lock"):
                remove_quietly(staging)
                _extract(archive, members, staging, db.official_labels)
                return convert_a3(db, labels, staging, data_dir, skip_bad,
                                  card_source=_card_source(db, entry, len(members), url),
                                  card_licensing=_card_licensing(db))
    except tarfile.TarError as err:
        raise FetchError(f"{archive_path}: not a readable tar archive ({err}); delete it and run again") from None
    except FetchError:
        raise
    except OSError as err:
        raise disk_error(err, f"extracting {db.archive} into {staging}") from None
    finally:
        remove_quietly(staging)
