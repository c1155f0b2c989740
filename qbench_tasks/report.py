"""``qbench report``: lm-eval result files of several models -> the paper's tables, plus plots.

Writes ``report.md`` with the A3 table (rows: models; columns: the seven databases as the paper
heads them; cells "SRCC/PLCC" to 3 decimals) and the A1 table (accuracy per question type,
per concern, and overall, from ``qbench_a1_dev``), the best value of each column in bold and
missing tasks as empty cells. From logged samples it draws, per A3 database, model score against
MOS, and per model the A1 accuracies by category.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from qbench_tasks.databases import A3_DATABASES

A1_TASK = "qbench_a1_dev"
# The paper's A1 columns: metric in qbench_a1_dev -> column heading.
A1_COLUMNS = {
    "acc_yes_or_no": "Yes-or-No",
    "acc_what": "What",
    "acc_how": "How",
    "acc_distortion": "Distortion",
    "acc_other": "Other",
    "acc_incontext_distortion": "In-context Distortion",
    "acc_incontext_other": "In-context Other",
    "acc": "Overall",
}
REPORT_FILE = "report.md"
_STAMP = re.compile(r"_(\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl?$")


@dataclass
class ModelResults:
    name: str
    results: dict  # task -> {"metric,filter": value}
    samples: dict[str, Path] = field(default_factory=dict)  # task -> samples_<task>_<stamp>.jsonl

    def metric(self, task: str, name: str) -> float | None:
        value = self.results.get(task, {}).get(f"{name},none")
        return value if isinstance(value, (int, float)) and not math.isnan(value) else None


def _stamp(path: Path) -> str | None:
    found = _STAMP.search(path.name)
    return found[1] if found else None


def read_results(path: Path, name: str | None = None) -> ModelResults:
    """One lm-eval results file; its samples files are those beside it with the same time stamp."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = data["results"]
    except FileNotFoundError:
        raise ValueError(f"{path}: results file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not an lm-eval results file ({type(err).__name__}: {err})") from None
    if name is None:
        args = str(data.get("config", {}).get("model_args", ""))
        pretrained = re.search(r"pretrained=([^,]+)", args)
        name = data.get("model_name") or (pretrained[1] if pretrained else path.stem)
    model = ModelResults(name=name, results=results)
    stamp = _stamp(path)
    if stamp:
        for task in results:
            candidate = path.with_name(f"samples_{task}_{stamp}.jsonl")
            if candidate.is_file():
                model.samples[task] = candidate
    return model


def attach_samples(models: list[tuple[Path, ModelResults]], samples: list[Path]) -> None:
    """Give each explicitly named samples file to the results file with its folder and stamp."""
    for sample_file in samples:
        stamp = _stamp(sample_file)
        owner = next((m for path, m in models if stamp and path.parent == sample_file.parent
                      and _stamp(path) == stamp), None)
        if owner is None:
            raise ValueError(f"{sample_file}: no results file given from the same lm-eval run "
                             f"(same folder, time stamp {stamp})")
        task = sample_file.name[len("samples_"):-len(f"_{stamp}.jsonl")]
        owner.samples[task] = sample_file


def _best(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _cell(value: float | None, best: float | None, fmt: str) -> str:
    if value is None:
        return ""
    text = format(value, fmt)
    return f"**{text}**" if value == best else text


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def a3_table(models: list[ModelResults]) -> str:
    columns = []
    for db in A3_DATABASES.values():
        srcc = [m.metric(db.task, "srcc") for m in models]
        plcc = [m.metric(db.task, "plcc") for m in models]
        best_s, best_p = _best(srcc), _best(plcc)
        columns.append([
            "" if s is None and p is None else f"{_cell(s, best_s, '.3f')}/{_cell(p, best_p, '.3f')}"
            for s, p in zip(srcc, plcc)
        ])
    rows = [[m.name, *(column[i] for column in columns)] for i, m in enumerate(models)]
    return _table(["Model", *(db.title for db in A3_DATABASES.values())], rows)


def a1_table(models: list[ModelResults]) -> str:
    columns = []
    for metric in A1_COLUMNS:
        values = [m.metric(A1_TASK, metric) for m in models]
        best = _best(values)
        columns.append([_cell(None if v is None else 100 * v, None if best is None else 100 * best, ".2f")
                        for v in values])
    rows = [[m.name, *(column[i] for column in columns)] for i, m in enumerate(models)]
    return _table(["Model", *A1_COLUMNS.values()], rows)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "model"


def _read_a3_points(path: Path) -> tuple[list[float], list[float]]:
    scores, mos = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                score, value, _ = json.loads(line)["srcc"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}: line {number} is not an A3 sample ({err})") from None
            scores.append(score)
            mos.append(value)
    return scores, mos


def plot_a3_scatter(models: list[ModelResults], out: Path) -> list[Path]:
    """One PNG per A3 database that has samples: model score against MOS, a panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for db in A3_DATABASES.values():
        having = [m for m in models if db.task in m.samples]
        if not having:
            continue
        fig, axes = plt.subplots(1, len(having), figsize=(4 * len(having), 3.6), squeeze=False)
        for ax, model in zip(axes[0], having):
            scores, mos = _read_a3_points(model.samples[db.task])
            ax.scatter(mos, scores, s=6, alpha=0.6)
            srcc, plcc = model.metric(db.task, "srcc"), model.metric(db.task, "plcc")
            subtitle = "" if srcc is None else f"\nSRCC {srcc:.3f} / PLCC {plcc:.3f}"
            ax.set_title(f"{model.name}{subtitle}", fontsize=9)
            ax.set_xlabel("MOS")
            ax.set_ylabel("model score")
        fig.suptitle(db.title)
        fig.tight_layout()
        path = out / f"a3_{db.name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def plot_a1_bars(models: list[ModelResults], out: Path) -> Path | None:
    """Grouped bars: A1 accuracy per category, one colour per model (None without A1 results)."""
    having = [m for m in models if A1_TASK in m.results]
    if not having:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(having)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, model in enumerate(having):
        values = [100 * (model.metric(A1_TASK, metric) or 0.0) for metric in A1_COLUMNS]
        ax.bar([x + i * width for x in range(len(A1_COLUMNS))], values, width, label=model.name)
    ax.set_xticks([x + width * (len(having) - 1) / 2 for x in range(len(A1_COLUMNS))])
    ax.set_xticklabels(list(A1_COLUMNS.values()), rotation=20, fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "a1_categories.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(
    results_files: list[str | os.PathLike],
    out: str | os.PathLike,
    samples: list[str | os.PathLike] = (),
    names: list[str] | None = None,
) -> Path:
    """Write ``out/report.md`` and its plots; return the report's path."""
    if names is not None and len(names) != len(results_files):
        raise ValueError(f"{len(names)} names for {len(results_files)} results files")
    paths = [Path(p) for p in results_files]
    models = [(p, read_results(p, names[i] if names else None)) for i, p in enumerate(paths)]
    attach_samples(models, [Path(s) for s in samples])
    ordered = [m for _, m in models]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scatter = plot_a3_scatter(ordered, out)
    bars = plot_a1_bars(ordered, out)
    parts = [
        "# Q-Bench results", "",
        "## A3: assessment (SRCC/PLCC)", "", a3_table(ordered), "",
        f"## A1: perception (accuracy %, {A1_TASK})", "", a1_table(ordered), "",
    ]
    if scatter or bars:
        parts += ["## Plots", ""]
        parts += [f"![{path.stem}]({path.name})" for path in [*scatter, *([bars] if bars else [])]]
        parts.append("")
    report = out / REPORT_FILE
    report.write_text("\n".join(parts), encoding="utf-8")
    return report
