"""``qbench fetch a3`` and a task's own fetch, against a local hub and label server
(``fixture_hub``) serving the published LIVE-itw label file (``livec.json``, verified by its real
git blob SHA-1) and an archive of one small image per label row, laid out as the LIVE Challenge
database is (``Images/``, ``Images/trainingImages/t*.bmp``)."""

import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import SHARED_DATA, run_lm_eval
from fixture_hub import COMMIT, LocalHub, running, tar_bytes
from PIL import Image

from qbench_tasks.a3.databases import A3_DATABASES, IMAGES_REPO, LABELS_COMMIT
from qbench_tasks.a3.fetch import labelled_members
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.data.download import git_blob_sha1

BIN = Path(sys.executable).parent
DB = A3_DATABASES["liveitw"]
DUPLICATED = "1000.JPG"  # also under LIVEC/backup/, with other bytes: the official root's copy wins
LOWER_CASED = "1001.JPG"  # stored as 1001.jpg: found ignoring case


@pytest.fixture(scope="module")
def published_labels() -> bytes:
    labels = SHARED_DATA / "a3_iqa_databases" / DB.official_labels
    if not labels.is_file():
        pytest.skip(f"official Q-Bench label files not found at {labels} (CI provides ../shared)")
    return labels.read_bytes()


def _image(i: int, name: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (i % 256, 7 * i % 256, 13 * i % 256)).save(
        buffer, "BMP" if name.endswith(".bmp") else "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(published_labels) -> tuple[bytes, dict[str, bytes], dict[str, bytes]]:
    """The archive, each label row's image bytes as the dataset must hold them, and the archive's members."""
    rows = json.loads(published_labels)
    images = {row["img_path"]: _image(i, row["img_path"]) for i, row in enumerate(rows)}
    members = {"LIVEC/Readme.txt": b"not labelled", "LIVEC/backup/" + DUPLICATED: _image(9999, DUPLICATED)}
    for name, data in images.items():
        folder = "LIVEC/Images/trainingImages" if name.startswith("t") else "LIVEC/Images"
        members[f"{folder}/{name.lower() if name == LOWER_CASED else name}"] = data
    return tar_bytes(members), images, members


def make_hub(published_labels, archive, **options) -> LocalHub:
    return LocalHub(files={f"{IMAGES_REPO}/{DB.archive}": archive[0]},
                    labels={DB.official_labels: published_labels}, **options)


def env_for(hub: LocalHub | None, cache: Path, **extra) -> dict:
    """The environment of a command on a machine that reaches ``hub`` (None: where nothing answers)."""
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    env.update(QBENCH_CACHE_DIR=str(cache), HF_HUB_CACHE=str(cache / "hf"),
               HF_ENDPOINT=hub.url if hub else "http://127.0.0.1:9", **extra)
    if hub:
        env["QBENCH_A3_LABELS_URL"] = hub.labels_url
    return env


def qbench_fetch(env, out: Path, *extra, **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "qbench"), "fetch", "a3", "--database", DB.name, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, env=env, **options)


def one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("qbench fetch: ")]
    return line


def test_pinned_label_blobs_are_the_published_files(official_a3_labels):
    """Each database's labels_blob is the git id of the published file (LIVE-FB's is not in ../shared)."""
    checked = 0
    for db in A3_DATABASES.values():
        path = official_a3_labels / db.official_labels
        if path.is_file():
            assert git_blob_sha1(path.read_bytes()) == db.labels_blob, db.name
            checked += 1
    assert checked == 6


def test_fetch_then_the_task_runs(tmp_path, published_labels, archive, tiny_model):
    rows = json.loads(published_labels)
    with running(make_hub(published_labels, archive)) as hub:
        proc = qbench_fetch(env_for(hub, tmp_path / "cache"), tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert f"LIVE-itw: images from livec.tar in {IMAGES_REPO} (" in proc.stdout  # the size, said first
    assert f"wrote {len(rows)} rows" in proc.stdout

    import datasets

    dataset = datasets.load_dataset(str(tmp_path / "data" / DB.name), split="test")
    assert dataset["img_path"] == [row["img_path"] for row in rows]  # the published names, in order
    assert dataset["mos"] == [float(row["gt_score"]) for row in rows]
    by_name = {row["img_path"]: row for row in dataset.cast_column("image", datasets.Image(decode=False))}
    for name in ("t1.bmp", DUPLICATED, LOWER_CASED, rows[-1]["img_path"]):
        assert by_name[name]["image"]["bytes"] == archive[1][name], name
    card = (tmp_path / "data" / DB.name / "README.md").read_text()
    for fact in (IMAGES_REPO, COMMIT, hashlib.sha256(archive[0]).hexdigest(), LABELS_COMMIT, DB.labels_blob,
                 f"{hub.labels_url}/livec.json", "non-commercial"):
        assert fact in card, fact
    assert [p.name for p in (tmp_path / "data").iterdir() if not p.name.endswith(".lock")] == [DB.name]  # no staging

    results = run_lm_eval(["qbench_a3_liveitw"], tiny_model, metadata={"qbench_data_dir": str(tmp_path / "data")},
                          limit=12, batch_size=4)
    assert results["results"]["qbench_a3_liveitw"]["srcc,none"] == pytest.approx(
        results["results"]["qbench_a3_liveitw"]["srcc,none"])  # a number, not NaN
    assert len(results["samples"]["qbench_a3_liveitw"]) == 12

    # a second fetch reads the archive and labels from the cache: nothing is downloaded again
    with running(make_hub(published_labels, archive)) as hub:
        again = qbench_fetch(env_for(hub, tmp_path / "cache"), tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert "already downloaded" in again.stdout and hub.gets(DB.archive) == [] and hub.gets("livec.json") == []


def test_a_task_fetches_its_data_and_says_so(tmp_path, published_labels, archive, tiny_model):
    """Plain lm_eval, no data directory: the task fetches into the cache folder, announced, and a
    later offline run reads what was fetched."""
    cache = tmp_path / "cache"
    command = [str(BIN / "lm_eval"), "--tasks", "qbench_a3_liveitw", "--model", "hf-multimodal",
               "--model_args", f"pretrained={tiny_model}", "--device", "cpu", "--limit", "8",
               "--output_path", str(tmp_path / "out")]
    with running(make_hub(published_labels, archive)) as hub:
        first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env_for(hub, cache))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "qbench_a3_liveitw: no LIVE-itw data at" in first.stderr and "fetching it now" in first.stderr
    assert f"images from livec.tar in {IMAGES_REPO} (" in first.stderr
    assert (cache / "data" / DB.name / "README.md").is_file()

    offline = subprocess.run(command, capture_output=True, text=True, timeout=600,
                             env=env_for(None, cache, HF_HUB_OFFLINE="1"))
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert "fetching" not in offline.stderr


def test_offline_a_task_says_what_to_run_and_fetching_can_be_turned_off(tmp_path, tiny_model):
    command = [str(BIN / "lm_eval"), "--tasks", "qbench_a3_liveitw", "--model", "hf-multimodal",
               "--model_args", f"pretrained={tiny_model}", "--device", "cpu"]
    cache = tmp_path / "cache"
    for env, cause in ((env_for(None, cache), "is this machine online?"),
                       (env_for(None, cache, HF_HUB_OFFLINE="1"), "HF_HUB_OFFLINE is set")):
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        first_line = next(line for line in proc.stderr.splitlines() if line.startswith("lm_eval: "))
        assert first_line.startswith(f"lm_eval: qbench_a3_liveitw: no LIVE-itw data at {cache / 'data' / DB.name}; run "
                                     f"`qbench fetch a3 --database liveitw --out {cache / 'data'}` on a machine "
                                     "that is online (")
        assert cause in first_line
    for off in (command + ["--metadata", '{"qbench_fetch": false}'], command):
        env = env_for(None, cache, **({} if "--metadata" in off else {"QBENCH_FETCH": "0"}))
        proc = subprocess.run(off, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 1 and "fetching it now" not in proc.stderr
        assert "and fetching is off (" in proc.stderr and "run `qbench fetch a3 --database liveitw" in proc.stderr


def test_a_killed_download_resumes(tmp_path, published_labels, archive):
    # huggingface_hub writes a download in chunks of DOWNLOAD_CHUNK_SIZE (10 MB): this archive
    # carries 30 MB more (an unlabelled member), so a kill can land between two chunks.
    from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

    archive = (tar_bytes({**archive[2], "LIVEC/Data/padding.bin": bytes(3 * DOWNLOAD_CHUNK_SIZE)}), *archive[1:])
    cache = tmp_path / "cache"
    size = len(archive[0])
    part = None
    with running(make_hub(published_labels, archive, chunk=1 << 20, throttle_s=0.1)) as hub:
        first = subprocess.Popen([str(BIN / "qbench"), "fetch", "a3", "--database", DB.name, "--out",
                                  str(tmp_path / "data")], env=env_for(hub, cache),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            parts = list(cache.rglob("livec.tar.part"))
            if parts and parts[0].stat().st_size >= DOWNLOAD_CHUNK_SIZE:
                part = parts[0]
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL and part is not None
    kept = part.stat().st_size
    assert 0 < kept < size
    with running(make_hub(published_labels, archive)) as hub:
        resumed = qbench_fetch(env_for(hub, cache), tmp_path / "data")
    assert resumed.returncode == 0, resumed.stderr
    assert hub.gets(DB.archive) == [f"bytes={kept}-"]  # only the rest was asked for
    assert not part.exists() and (tmp_path / "data" / DB.name / "README.md").is_file()


def test_a_label_file_with_another_hash_is_refused(tmp_path, published_labels, archive):
    changed = published_labels.replace(b"63.963406174124174", b"63.963406174124175", 1)
    with running(LocalHub(files={f"{IMAGES_REPO}/{DB.archive}": archive[0]},
                          labels={DB.official_labels: changed})) as hub:
        proc = qbench_fetch(env_for(hub, tmp_path / "cache"), tmp_path / "data")
    line = one_line_error(proc)
    assert f"{hub.labels_url}/livec.json: its git blob SHA-1 is {git_blob_sha1(changed)}, not the pinned " \
           f"{DB.labels_blob}; refused" in line
    assert hub.gets(DB.archive) == []  # the archive is not downloaded for labels that are refused
    assert not (tmp_path / "data" / DB.name).exists()


def test_offline_404_and_a_server_that_is_not_there_are_one_line(tmp_path, published_labels, archive):
    cache = tmp_path / "cache"
    assert "HF_HUB_OFFLINE is set" in one_line_error(qbench_fetch(env_for(None, cache, HF_HUB_OFFLINE="1"),
                                                                  tmp_path / "data"))
    assert "is this machine online?" in one_line_error(qbench_fetch(env_for(None, cache), tmp_path / "data"))
    with running(LocalHub(labels={DB.official_labels: published_labels})) as hub:  # no archive on the hub
        assert f"/resolve/main/{DB.archive}: HTTP 404" in one_line_error(qbench_fetch(env_for(hub, cache),
                                                                                      tmp_path / "data"))
    with running(LocalHub(files={f"{IMAGES_REPO}/{DB.archive}": archive[0]})) as hub:  # no label file
        assert "livec.json: HTTP 404" in one_line_error(qbench_fetch(env_for(hub, cache), tmp_path / "data"))
    assert not (tmp_path / "data" / DB.name).exists()


def _file_size_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_is_refused_early_or_leaves_nothing(tmp_path, published_labels, archive):
    cache = tmp_path / "cache"
    huge = {DB.archive: 10**18}  # more than any disk here has free
    with running(make_hub(published_labels, archive, reported_sizes=huge)) as hub:
        line = one_line_error(qbench_fetch(env_for(hub, cache), tmp_path / "data"))
        assert "downloading livec.tar (1000000000.0 GB) needs 1000000000.0 GB free in" in line
        assert hub.gets(DB.archive) == []
    with running(make_hub(published_labels, archive)) as hub:
        assert qbench_fetch(env_for(hub, cache), tmp_path / "data").returncode == 0  # a dataset to keep
        before = (tmp_path / "data" / DB.name / "README.md").read_text()
        # The archive is cached. A file size limit fails writes as a full disk does (EFBIG for
        # ENOSPC): with 300 bytes, extracting the first image fails; with 20 kB, writing the dataset.
        for limit, said in ((300, f"extracting {DB.archive} into "), (20_000, "cannot write the dataset (")):
            line = one_line_error(qbench_fetch(env_for(hub, cache), tmp_path / "data",
                                               preexec_fn=_file_size_limit(limit)))
            assert said in line and "File too large" in line and ("nothing was kept" in line or
                                                                   "any previous dataset there is kept" in line)
            assert sorted(p.name for p in (tmp_path / "data").iterdir() if not p.name.endswith(".lock")) == [DB.name]
            assert (tmp_path / "data" / DB.name / "README.md").read_text() == before


# Matching label rows to archive members (in process: the rules, on small archives).

def _members(names: list[str]):
    return tarfile.open(fileobj=io.BytesIO(tar_bytes({name: b"x" for name in names})))


def test_rows_are_matched_by_trailing_path_then_ignoring_case_then_under_the_official_root():
    koniq = A3_DATABASES["koniq"]  # official root 1024x768
    rows = [{"img_path": "a.jpg"}, {"img_path": "B.jpg"}, {"img_path": "c.jpg"}, {"img_path": "sub/d.jpg"}]
    found = labelled_members(_members(["koniq/1024x768/a.jpg", "koniq/512x384/a.jpg", "koniq/1024x768/b.jpg",
                                       "x/c.jpg", "koniq/sub/d.jpg", "koniq/other/d.jpg"]),
                             "koniq.tar", rows, koniq, "koniq.json")
    assert {k: v.name for k, v in found.items()} == {
        "a.jpg": "koniq/1024x768/a.jpg", "B.jpg": "koniq/1024x768/b.jpg", "c.jpg": "x/c.jpg",
        "sub/d.jpg": "koniq/sub/d.jpg"}


def test_rows_without_an_image_or_with_several_are_named():
    koniq = A3_DATABASES["koniq"]
    rows = [{"img_path": f"{i}.jpg"} for i in range(8)]
    with pytest.raises(ConversionError, match=r"koniq.tar has no image for 7 of the 8 rows of koniq.json: "
                                              r"rows 1 \(1.jpg\); 2 \(2.jpg\); 3 \(3.jpg\); 4 \(4.jpg\); "
                                              r"5 \(5.jpg\); \.\.\.; nothing was converted"):
        labelled_members(_members(["k/0.jpg"]), "koniq.tar", rows, koniq, "koniq.json")
    with pytest.raises(ConversionError, match=r"has several images for 1 of the 1 rows of koniq.json: rows 0 "
                                              r"\(0.jpg: p/0.jpg, q/0.jpg\)"):
        labelled_members(_members(["p/0.jpg", "q/0.jpg"]), "koniq.tar", rows[:1], koniq, "koniq.json")


def test_all_databases_say_the_total_first_and_each_failure_in_a_line(tmp_path, official_a3_labels,
                                                                       published_labels, archive):
    """``--database all``: the total download is said before anything downloads; a database that
    fails is named in its own line while the others are still fetched."""
    empty = tar_bytes({"readme.txt": b"no images"})
    files = {f"{IMAGES_REPO}/{db.archive}": empty for db in A3_DATABASES.values()}
    files[f"{IMAGES_REPO}/{DB.archive}"] = archive[0]
    labels = {db.official_labels: (official_a3_labels / db.official_labels).read_bytes()
              for db in A3_DATABASES.values() if (official_a3_labels / db.official_labels).is_file()}
    with running(LocalHub(files=files, labels=labels)) as hub:
        proc = subprocess.run([str(BIN / "qbench"), "fetch", "a3", "--database", "all", "--out",
                               str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=300, env=env_for(hub, tmp_path / "cache"))
    total = len(archive[0]) + 5 * len(empty)
    assert proc.stdout.splitlines()[0] == (f"7 databases from 6 archives of {total / 1e6:.1f} MB; "
                                           f"{total / 1e6:.1f} MB to download")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("qbench fetch: ")]
    assert errors[-1] == "qbench fetch: not fetched: koniq, spaq, livefb, cgiqa6k, agiqa3k, kadid10k (see above)"
    assert "koniq.tar has no image for 10073 of the 10073 rows of koniq.json" in errors[0]
    assert "flive.json: HTTP 404" in errors[2]  # LIVE-FB's label file is not on this stand-in
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if not p.name.startswith(".")) == [DB.name]
