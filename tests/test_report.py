"""qbench report: two synthetic lm-eval result files -> the exact Markdown, and valid PNGs."""

import json

import numpy as np
import pytest
from PIL import Image

from qbench_tasks.cli import main
from qbench_tasks.report import write_report

STAMP_A, STAMP_B = "2026-11-26T10-00-00.000001", "2026-11-26T11-30-00.000002"


def a1(overall, overall_stderr="N/A", **categories):
    metrics = {"acc,none": overall, "acc_stderr,none": overall_stderr, "unparsed_rate,none": 0.0}
    metrics.update({f"{name},none": value for name, value in categories.items()})
    return metrics


def write_run(folder, stamp, model_args, results, samples=None):
    folder.mkdir(parents=True)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps({"results": results, "config": {"model": "hf-multimodal", "model_args": model_args}}))
    for task, rows in (samples or {}).items():
        (folder / f"samples_{task}_{stamp}.jsonl").write_text(
            "".join(json.dumps({"doc_id": i, "srcc": row, "plcc": row}) + "\n" for i, row in enumerate(rows)))
    return path


@pytest.fixture()
def two_runs(tmp_path):
    a = write_run(
        tmp_path / "llava", STAMP_A, "pretrained=llava-hf/llava-1.5-7b-hf,dtype=bfloat16",
        {
            "qbench_a3_koniq": {"srcc,none": 0.4621, "plcc,none": 0.4571,
                                "srcc_stderr,none": 0.02, "plcc_stderr,none": 0.02},
            "qbench_a3_spaq": {"srcc,none": 0.4421, "plcc,none": 0.4802},
            "qbench_a3_cgiqa6k": {"srcc,none": float("nan"), "plcc,none": float("nan")},
            "qbench_a1_dev": a1(0.5863, 0.01, acc_yes_or_no=0.6401, acc_what=0.5402, acc_how=0.5621,
                                acc_distortion=0.5100, acc_other=0.6600, acc_incontext_distortion=0.5800,
                                acc_incontext_other=0.6200),
            "mmmu_val": {"acc,none": 0.35},
        },
        samples={"qbench_a3_koniq": [[0.61, 3.2, "a.jpg"], [0.55, 2.1, "b.jpg"], [0.70, 4.0, "c.jpg"]]},
    )
    b = write_run(
        tmp_path / "qwen", STAMP_B, "pretrained=/models/qwen-vl",
        {
            "qbench_a3_koniq": {"srcc,none": 0.7312, "plcc,none": 0.4400,
                                "srcc_stderr,none": 0.02, "plcc_stderr,none": 0.02},
            "qbench_a3_kadid10k": {"srcc,none": 0.5089, "plcc,none": 0.5320},
            "qbench_a1_dev": a1(0.6012, 0.01, acc_yes_or_no=0.6401, acc_what=0.6000, acc_how=0.5500),
        },
    )
    return a, b


EXPECTED = """\
# Q-Bench results

## A3: assessment (SRCC/PLCC)

| Model | KonIQ-10k | SPAQ | LIVE-FB | LIVE-itw | CGIQA-6K | AGIQA-3K | KADID-10K |
|---|:---:|:---:|:---:|:---:|:---:|:---:|:---:|
| llava-hf/llava-1.5-7b-hf | 0.462±0.039/*0.457*±0.039 | **0.442**/**0.480** |  |  |  |  |  |
| /models/qwen-vl | **0.731**±0.039/*0.440*±0.039 |  |  |  |  |  | **0.509**/**0.532** |

## A1: perception (accuracy %, qbench_a1_dev)

| Model | Yes-or-No | What | How | Distortion | Other | In-context Distortion | In-context Other | Overall |
|---|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|
| llava-hf/llava-1.5-7b-hf | *64.01* | *54.02* | *56.21* | **51.00** | **66.00** | **58.00** | **62.00** | *58.63*±1.96 |
| /models/qwen-vl | *64.01* | *60.00* | *55.00* |  |  |  |  | *60.12*±1.96 |

± is the half-width of the 95% interval. Bold: best, and resolved from every other model (the 95% interval of the difference excludes 0); italics: tied for best.

## Plots

![a3_koniq](a3_koniq.png)
![a1_categories](a1_categories.png)
"""


def test_report_markdown_is_the_papers_layout(two_runs, tmp_path):
    report = write_report(two_runs, tmp_path / "report")
    assert report.read_text() == EXPECTED
    for name in ("a3_koniq.png", "a1_categories.png"):
        with Image.open(tmp_path / "report" / name) as image:
            assert image.format == "PNG" and image.size[0] > 200
            image.verify()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["a1_categories.png", "a3_koniq.png", "report.md"]


def test_names_and_explicit_samples_through_the_cli(two_runs, tmp_path, capsys):
    a, b = two_runs
    extra = b.parent / f"samples_qbench_a3_kadid10k_{STAMP_B}.jsonl"
    extra.write_text(json.dumps({"srcc": [0.3, 1.0, "x.png"]}) + "\n" + json.dumps({"srcc": [0.4, 2.0, "y.png"]}) + "\n")
    main(["report", str(a), str(b), "--names", "LLaVA-1.5", "Qwen-VL", "--samples", str(extra),
          "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| LLaVA-1.5 | 0.462±0.039/*0.457*±0.039 |" in text and "| Qwen-VL | **0.731**±0.039/*0.440*±0.039 |" in text
    assert (tmp_path / "out" / "a3_kadid10k.png").is_file() and "wrote" in capsys.readouterr().out


def test_bad_inputs_are_named(two_runs, tmp_path):
    a, _ = two_runs
    broken = tmp_path / "results_x.json"
    broken.write_text("{}")
    with pytest.raises(ValueError, match="results_x.json: not an lm-eval results file"):
        write_report([a, broken], tmp_path / "out")
    stray = tmp_path / f"samples_qbench_a3_spaq_{STAMP_A}.jsonl"
    stray.write_text("")
    with pytest.raises(ValueError, match="no results file given from the same lm-eval run"):
        write_report([a], tmp_path / "out", samples=[stray])
    with pytest.raises(SystemExit, match="qbench report: .*gone.json: results file not found"):
        main(["report", str(tmp_path / "gone.json"), "--out", str(tmp_path / "out")])


def synthetic_a3_samples(noise, seed, images=300, prefix="img"):
    """(score, MOS, img_path) rows of a model whose score is MOS plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    mos = np.linspace(1, 5, images)
    mos_rng = np.random.default_rng(0)  # the same MOS for every model
    mos = mos + mos_rng.normal(0, 0.01, images)
    return [[float(m + rng.normal(0, noise)), float(m), f"{prefix}{i}.jpg"] for i, m in enumerate(mos)]


def test_paired_comparison_resolves_a_planted_difference_and_marks_ties(tmp_path):
    from qbench_tasks.a3.scoring import plcc, srcc

    runs = {"sharp": synthetic_a3_samples(0.5, 1), "noisy": synthetic_a3_samples(2.5, 2),
            "noisy-twin": synthetic_a3_samples(2.5, 3)}
    paths = []
    for i, (name, rows) in enumerate(runs.items()):
        items = [tuple(row) for row in rows]
        results = {"qbench_a3_koniq": {"srcc,none": srcc(items), "plcc,none": plcc(items),
                                       "srcc_stderr,none": srcc.qbench_stderr(items, 1000),
                                       "plcc_stderr,none": plcc.qbench_stderr(items, 1000)}}
        paths.append(write_run(tmp_path / name, f"2026-11-26T1{i}-00-00.000001", f"pretrained={name}", results,
                                samples={"qbench_a3_koniq": rows}))
    text = write_report(paths, tmp_path / "report").read_text()
    comparisons = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| KonIQ-10k |")}
    assert set(comparisons) == {"sharp − noisy", "sharp − noisy-twin", "noisy − noisy-twin"}
    assert all("| 300 |" in line for line in comparisons.values())
    assert comparisons["sharp − noisy"].count(" resolved") == 2 and "not resolved" not in comparisons["sharp − noisy"]
    assert comparisons["noisy − noisy-twin"].count("not resolved") == 2
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1] for line in text.splitlines()
            if line.startswith("| ") and " | " in line and "±" in line}
    assert rows["sharp"].startswith("**") and not rows["noisy"].startswith(("**", "*"))


def test_the_packaged_published_rows_are_the_papers(official_a3_labels):
    """qbench_tasks.a3.published against the transcription kept beside the official labels."""
    import csv

    from qbench_tasks.a3.databases import A3_DATABASES
    from qbench_tasks.a3.published import PUBLISHED_A3

    path = official_a3_labels.parent / "published_a3_srcc_plcc.csv"
    rows = list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
    assert {row["model"]: tuple((float(row[f"{db}_srcc"]), float(row[f"{db}_plcc"])) for db in A3_DATABASES)
            for row in rows} == PUBLISHED_A3


def test_paper_rows_are_ranked_with_the_users_model(tmp_path):
    path = write_run(tmp_path / "mine", STAMP_A, "pretrained=mine", {
        "qbench_a3_koniq": {"srcc,none": 0.80, "plcc,none": 0.50, "srcc_stderr,none": 0.01, "plcc_stderr,none": 0.01}})
    main(["report", str(path), "--paper", "--out", str(tmp_path / "out")])
    a3_section = (tmp_path / "out" / "report.md").read_text().split("## A1")[0]
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in a3_section.splitlines()
            if line.startswith("| ") and "---" not in line}
    assert len([name for name in rows if name.endswith("(published)")]) == 12
    assert rows["mine"][0] == "**0.800**±0.020/*0.500*±0.020"  # PLCC 0.500 +- 0.020: tied with CLIP's 0.505
    assert rows["CLIP-ViT-Large-14 (published)"][0] == "0.468/*0.505*"
    assert rows["LLaVA-v1 (Vicuna-13B) (published)"][0] == "0.462/0.457"
    assert rows["mPLUG-Owl (LLaMA-7B) (published)"][5] == "**0.687**/**0.711**"  # AGIQA-3K: published rows only
    assert "±" not in "".join(rows["NIQE (published)"])
