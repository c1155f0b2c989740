"""Conversion on a user's worst day: two writers at once, a kill at any point (also inside the
folder swap), a full disk, a folder that cannot be written, a shared data folder, and a folder
that holds another dataset than the task's. Each fault is produced for real (threads, a killed
process, a file-size limit, a process without write permission), not by replacing our code."""

import ctypes
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_convert_a3 import data_folder_names, write_images, write_labels

import qbench_tasks.data.conversion as convert
from qbench_tasks.a1.convert import convert_a1
from qbench_tasks.a3.convert import convert_a3
from qbench_tasks.data.location import WrongDatasetError, converted_dataset_path, recorded_identity
from qbench_tasks.data.parquet import load_parquet_dataset

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"i{i}.png" for i in range(6)]


@pytest.fixture
def a3_set(tmp_path):
    write_images(tmp_path / "images", NAMES)
    return write_labels(tmp_path / "labels.json", [{"img_path": n, "gt_score": i} for i, n in enumerate(NAMES)])


def a1_labels(path, split):
    rows = [{"type": 0, "concern": 0, "question": f"Is image {i} blurry?", "img_path": n,
             "candidates": ["Yes", "No"], **({"correct_ans": "Yes"} if split == "dev" else {})}
            for i, n in enumerate(NAMES)]
    return write_labels(path, rows)


def run_python(code, *args, preexec_fn=None, env=None):
    """``code`` in a fresh interpreter (sys.argv[1:] = args), as a separate process."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          preexec_fn=preexec_fn, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_two_splits_converted_at_once_both_land(tmp_path, monkeypatch):
    write_images(tmp_path / "images", NAMES)
    real_read = convert.read_rgb

    def slow_read(path, draft=None):  # both writers are mid-conversion at the same time
        time.sleep(0.05)
        return real_read(path, draft)

    monkeypatch.setattr(convert, "read_rgb", slow_read)
    out = tmp_path / "data"
    errors = []

    def convert_split(split):
        try:
            convert_a1(a1_labels(tmp_path / f"{split}.json", split), tmp_path / "images", split, out)
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=convert_split, args=(split,)) for split in ("dev", "test")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    data = load_parquet_dataset(out / "llvisionqa")
    assert {split: ds.num_rows for split, ds in data.items()} == {"dev": 6, "test": 6}
    card = (out / "llvisionqa" / "README.md").read_text()
    assert "split: dev" in card and "split: test" in card


KILL_IN_SWAP = """
import os, sys
import qbench_tasks.data.parquet as hf
from qbench_tasks.a3.convert import convert_a3
real_replace = os.replace
def replace_then_die(src, dst):
    real_replace(src, dst)
    os._exit(9)  # killed after moving the old dataset aside, before moving the new one in
hf.os.replace = replace_then_die
convert_a3("koniq", sys.argv[1], sys.argv[2], sys.argv[3])
"""

KILL_MID_WRITE = """
import os, sys
import qbench_tasks.data.conversion as convert
from qbench_tasks.a3.convert import convert_a3
real_read = convert.read_rgb
seen = []
def read_then_die(path, draft=None):
    seen.append(path)
    if len(seen) == 4:
        os._exit(9)
    return real_read(path, draft)
convert.read_rgb = read_then_die
convert_a3("koniq", sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.mark.parametrize("who_recovers", ["loader", "next conversion"])
def test_a_kill_inside_the_folder_swap_is_undone(who_recovers, a3_set, tmp_path):
    out = tmp_path / "data"
    convert_a3("koniq", a3_set, tmp_path / "images", out)
    killed = run_python(KILL_IN_SWAP, a3_set, tmp_path / "images", out)
    assert killed.returncode == 9, killed.stderr
    assert not (out / "koniq").exists()  # the state a kill leaves: the dataset only in .koniq.old-*
    if who_recovers == "loader":
        path = converted_dataset_path("qbench_a3_koniq", "a3/koniq", out, "convert")
        assert load_parquet_dataset(path)["test"].num_rows == 6
    else:
        convert_a3("koniq", write_labels(a3_set, json.loads(a3_set.read_text())[:2]), tmp_path / "images", out)
        assert load_parquet_dataset(out / "koniq")["test"].num_rows == 2
    assert data_folder_names(out) == ["koniq"]


def test_folders_of_killed_conversions_are_swept_by_the_next(a3_set, tmp_path):
    out = tmp_path / "data"
    left = []
    for _ in range(2):  # each killed run leaves its folder; the next run, killed too, sweeps it
        assert run_python(KILL_MID_WRITE, a3_set, tmp_path / "images", out).returncode == 9
        left.append([p.name for p in out.iterdir() if ".koniq.tmp-" in p.name])
    assert len(left[0]) == len(left[1]) == 1 and left[0] != left[1]
    convert_a3("koniq", a3_set, tmp_path / "images", out)
    assert data_folder_names(out) == ["koniq"]


CONVERT_CLI = "import sys; from qbench_tasks.cli import main; main(sys.argv[1:])"


def _file_size_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_full_disk_is_a_clear_error_and_keeps_the_previous_dataset(tmp_path):
    big = [f"b{i}.png" for i in range(4)]
    (tmp_path / "images").mkdir()
    for name in big:  # incompressible: the shard outgrows the limit
        (tmp_path / "images" / name).write_bytes(_noise_png())
    labels = write_labels(tmp_path / "labels.json", [{"img_path": n, "gt_score": 1} for n in big])
    out = tmp_path / "data"
    convert_a3("koniq", write_labels(tmp_path / "one.json", [{"img_path": big[0], "gt_score": 1}]),
               tmp_path / "images", out)
    result = run_python(CONVERT_CLI, "convert", "a3", "--database", "koniq", "--labels", labels,
                        "--images", tmp_path / "images", "--out", out, preexec_fn=_file_size_limit)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"qbench convert: {out / 'koniq'}: cannot write the dataset (File too large")
    assert "Traceback" not in result.stderr
    assert load_parquet_dataset(out / "koniq")["test"].num_rows == 1
    assert data_folder_names(out) == ["koniq"]


def _noise_png():
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _without_permission_override():
    """Root (CI runs as root) writes anywhere: drop the capability that lets it, for the child."""
    if os.geteuid() == 0:
        pr_capbset_drop, cap_dac_override = 24, 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_capbset_drop, cap_dac_override, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def test_a_folder_without_write_permission_is_a_clear_error(a3_set, tmp_path):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = run_python(CONVERT_CLI, "convert", "a3", "--database", "koniq", "--labels", a3_set,
                            "--images", tmp_path / "images", "--out", out, preexec_fn=_without_permission_override)
    finally:
        out.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"qbench convert: {out / 'koniq'}: cannot write the dataset (Permission denied")
    assert list(out.iterdir()) == []


def test_converted_folders_follow_the_umask(a3_set, tmp_path):
    old = os.umask(0o022)
    try:
        report = convert_a3("koniq", a3_set, tmp_path / "images", tmp_path / "data")
    finally:
        os.umask(old)
    for path in (report.out_dir, report.out_dir / "data"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
    for path in (report.out_dir / "README.md", *(report.out_dir / "data").iterdir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_task_refuses_another_databases_data(a3_set, tmp_path):
    out = tmp_path / "data"
    convert_a3("livefb", a3_set, tmp_path / "images", out)
    (out / "livefb").rename(out / "koniq")
    assert recorded_identity(out / "koniq") == "a3/livefb"
    with pytest.raises(WrongDatasetError, match=r"holds the dataset a3/livefb, not a3/koniq"):
        converted_dataset_path("qbench_a3_koniq", "a3/koniq", out, "convert")


def test_an_a3_task_on_a1_data_is_refused_by_lm_eval(tmp_path):
    """Through lm-eval: A1 data in koniq/ used to end in a KeyError."""
    from conftest import evaluate_scripted

    write_images(tmp_path / "images", NAMES)
    convert_a1(a1_labels(tmp_path / "dev.json", "dev"), tmp_path / "images", "dev", tmp_path / "data")
    (tmp_path / "data" / "llvisionqa").rename(tmp_path / "data" / "koniq")
    with pytest.raises(WrongDatasetError, match="holds the dataset a1/llvisionqa, not a3/koniq"):
        evaluate_scripted(lambda doc: "good", "qbench_a3_koniq", {"qbench_data_dir": str(tmp_path / "data")})


def test_a_dataset_from_before_identities_is_read_with_a_warning(a3_set, tmp_path, caplog):
    report = convert_a3("koniq", a3_set, tmp_path / "images", tmp_path / "data")
    card = report.out_dir / "README.md"
    card.write_text("\n".join(line for line in card.read_text().splitlines() if not line.startswith("qbench_dataset:")))
    assert recorded_identity(report.out_dir) is None
    path = converted_dataset_path("qbench_a3_koniq", "a3/koniq", tmp_path / "data", "convert")
    assert path == report.out_dir
    assert "does not record which dataset it holds" in caplog.text
