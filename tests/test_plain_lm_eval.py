"""Plain ``lm_eval`` finds Q-Bench with no include path: the built wheel, in a fresh virtual
environment, as a user installs it (qbench_lm_eval_autoload and its .pth file)."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

QBENCH_TASKS = {"qbench_a3_demo", "qbench_a3_koniq", "qbench_a1_dev_mc", "qbench_a3", "qbench"}


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Path:
    """python of a new venv holding only the project's wheel (installed by pip, with its .pth);
    its dependencies are read from this test run's environment through one path entry, so the
    editable install of the project there is not visible (no .pth of that folder runs)."""
    root = tmp_path_factory.mktemp("fresh")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True)
    (wheel,) = wheels.glob("lm_eval_qbench-*.whl")
    venv.create(root / "venv", with_pip=False)
    python = root / "venv" / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    (site / "test-dependencies.pth").write_text(deps + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True)
    return python


def fresh(python, *args, env=None, check=True):
    """Run the fresh venv's python, outside the checkout (whose folders would shadow the wheel)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    proc = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=900, env=full_env,
                          cwd=python.parents[2])
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def results_of(output_path: Path) -> dict:
    (found,) = output_path.rglob("results_*.json")
    return json.loads(found.read_text())["results"]


def test_the_wheel_runs_from_site_packages_not_the_checkout(fresh_python, tmp_path):
    where = fresh(fresh_python, "-c", "import qbench_tasks, qbench_lm_eval_autoload as a; "
                  "print(qbench_tasks.__file__); print(a.__file__)").stdout.split()
    assert all("site-packages" in path and str(REPO) not in path for path in where)


def test_plain_lm_eval_runs_a_qbench_task_with_no_include_path(fresh_python, signal_model, tmp_path):
    # python -m lm_eval is the lm_eval console script (it calls lm_eval.__main__:cli_evaluate).
    proc = fresh(fresh_python, "-m", "lm_eval", "--tasks", "qbench_a3_demo", "--model", "hf-multimodal",
                 "--model_args", f"pretrained={signal_model}", "--device", "cpu", "--batch_size", "4",
                 "--output_path", str(tmp_path))
    assert "qbench_a3_demo" in proc.stdout
    assert results_of(tmp_path)["qbench_a3_demo"]["srcc,none"] > 0.8


def write_koniq_like_data(folder: Path, images: int = 8) -> Path:
    """A koniq dataset converted by ``qbench convert`` from generated images (MOS = brightness)."""
    (folder / "images").mkdir(parents=True)
    labels = []
    for i in range(images):
        Image.new("RGB", (40 + 3 * i, 30 + 2 * i), (20 * i, 20 * i, 20 * i)).save(folder / "images" / f"{i}.jpg")
        labels.append({"img_path": f"{i}.jpg", "gt_score": float(i)})
    (folder / "koniq.json").write_text(json.dumps(labels))
    return folder


def test_qbench_models_and_tasks_beside_a_users_include_path(fresh_python, tiny_model, text_task_dir, tmp_path):
    data = write_koniq_like_data(tmp_path / "src")
    fresh(fresh_python, "-m", "qbench_tasks.cli", "convert", "a3", "--database", "koniq", "--labels",
          str(data / "koniq.json"), "--images", str(data / "images"), "--out", str(tmp_path / "data"))
    fresh(fresh_python, "-m", "lm_eval", "--tasks", "qbench_a3_koniq,qbench_test_text_mc",
          "--include_path", str(text_task_dir), "--model", "hf-multimodal-loglik",
          "--model_args", f"pretrained={tiny_model}", "--device", "cpu",
          "--metadata", json.dumps({"qbench_data_dir": str(tmp_path / "data")}),
          "--output_path", str(tmp_path / "out"))
    results = results_of(tmp_path / "out")
    assert set(results) == {"qbench_a3_koniq", "qbench_test_text_mc"}
    assert -1 <= results["qbench_a3_koniq"]["srcc,none"] <= 1


def test_python_api_and_task_listing(fresh_python, signal_model, tmp_path):
    script = f"""
import json, lm_eval
from lm_eval.tasks import TaskManager
names = set(TaskManager().all_tasks)
out = lm_eval.simple_evaluate(model="hf-multimodal", model_args="pretrained={signal_model}",
                              tasks=["qbench_a3_demo"], device="cpu", batch_size=4)
print(json.dumps({{"qbench": sorted(n for n in names if n.startswith("qbench")),
                   "builtin": "arc_easy" in names,
                   "srcc": out["results"]["qbench_a3_demo"]["srcc,none"]}}))
"""
    found = json.loads(fresh(fresh_python, "-c", script).stdout.strip().splitlines()[-1])
    assert QBENCH_TASKS <= set(found["qbench"]) and found["builtin"]
    assert found["srcc"] > 0.8
    listed = fresh(fresh_python, "-m", "lm_eval", "ls", "tasks").stdout
    assert all(f"{name} " in listed or f"{name}\n" in listed for name in QBENCH_TASKS)


def test_turned_off_by_the_environment(fresh_python, tmp_path):
    script = """
import sys
from lm_eval.tasks import TaskManager
from lm_eval.api.registry import model_registry
import lm_eval.models
print(any(type(f).__name__ == "_Watcher" for f in sys.meta_path), "hf-multimodal-loglik" in model_registry)
"""
    on = fresh(fresh_python, "-c", script).stdout.split()
    off = fresh(fresh_python, "-c", script, env={"QBENCH_LM_EVAL_AUTOLOAD": "0"}).stdout.split()
    assert on == ["True", "True"] and off == ["False", "False"]


def test_start_up_imports_nothing_but_the_watcher(fresh_python, tmp_path):
    script = "import sys; print(' '.join(sorted(sys.modules)))"
    on = set(fresh(fresh_python, "-c", script).stdout.split())
    off = set(fresh(fresh_python, "-c", script, env={"QBENCH_LM_EVAL_AUTOLOAD": "0"}).stdout.split())
    assert on - off == {"qbench_lm_eval_autoload"}


def test_a_broken_qbench_leaves_lm_eval_working_with_one_warning(fresh_python, text_task_dir, tmp_path):
    broken = tmp_path / "shadow" / "qbench_tasks"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('planted failure')\n")
    script = f"""
import lm_eval.tasks.manager
from lm_eval.tasks import TaskManager
from lm_eval.api.registry import get_model
print(get_model("hf").__name__, "qbench_test_text_mc" in TaskManager(include_path={str(text_task_dir)!r},
      include_defaults=False).all_tasks)
"""
    proc = fresh(fresh_python, "-c", script, env={"PYTHONPATH": str(broken.parent)})
    assert proc.stdout.split() == ["HFLM", "True"]
    warnings = [line for line in proc.stderr.splitlines() if "Q-Bench could not add itself" in line]
    assert len(warnings) == 1 and "planted failure" in warnings[0]
