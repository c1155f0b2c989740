"""``qbench report``: lm-eval result files of several models -> the paper's tables, plus plots.

Writes ``report.md`` with the A3 table (rows: models; columns: the seven databases as the paper
heads them; cells "SRCC/PLCC" to 3 decimals), the A1 table (accuracy per question type,
per concern, and overall, from ``qbench_a1_dev``) and the A-Bench table (overall, per part, per
category at every level present, from ``abench_dev``), missing tasks as empty cells. Each figure
carries its 95% interval (+/- 1.96 of the standard error lm-eval wrote beside it). The best of a
column is bold only where its difference from every other model is resolved (its 95% interval
excludes 0: a paired bootstrap over the images both models scored, from their logged samples,
else the two standard errors combined); models tied for best are in italics. Per A3 database,
the paired comparisons of every two models with samples are listed. From logged samples it
also draws, per A3 database, model score against MOS, and per model the A1 accuracies by
category.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qbench_tasks import is_qbench_name
from qbench_tasks.a3 import scoring as a3_scoring
from qbench_tasks.a3.databases import A3_DATABASES
from qbench_tasks.a3.published import PUBLISHED_A3
from qbench_tasks.a3.published import SOURCE as PUBLISHED_SOURCE
from qbench_tasks.bootstrap import (
    MAX_RESAMPLES,
    Z_95,
    correlation_replicates,
    percentile_interval,
    resolved,
)

A1_TASK = "qbench_a1_dev"
ABENCH_TASK = "abench_dev"
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

    def stderr(self, task: str, name: str) -> float | None:
        return self.metric(task, f"{name}_stderr")


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
    if not isinstance(results, dict) or not any(is_qbench_name(str(task)) for task in results):
        tasks = ", ".join(map(str, results)) if isinstance(results, dict) else repr(results)[:80]
        raise ValueError(f"{path}: holds no Q-Bench task results (tasks: {tasks or 'none'})")
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


# One figure of one model in a table column.
Entry = tuple[float | None, float | None]  # (value, standard error)


def _column_marks(entries: list[Entry], paired: dict[int, dict[int, bool]] | None = None) -> list[str]:
    """Per model: "bold" (best, resolved from every other model), "italic" (tied for best) or "".

    ``paired[i][j]`` says whether a paired comparison resolved models i and j; other pairs are
    resolved when the difference's interval from the two standard errors excludes 0.
    """
    present = [i for i, (value, _) in enumerate(entries) if value is not None]
    if not present:
        return [""] * len(entries)
    best = max(present, key=lambda i: entries[i][0])

    def resolved_from_best(j: int) -> bool:
        if paired and j in paired.get(best, {}):
            return paired[best][j]
        (best_value, best_se), (value, se) = entries[best], entries[j]
        if best_se is None or se is None:
            return False
        half_width = Z_95 * math.hypot(best_se, se)
        return resolved((best_value - value - half_width, best_value - value + half_width))

    tied = [j for j in present if j != best and not resolved_from_best(j)]
    marks = [""] * len(entries)
    for i in [best, *tied]:
        marks[i] = "italic" if tied else "bold"
    return marks


def _cell(entry: Entry, mark: str, fmt: str, scale: float = 1.0) -> str:
    value, se = entry
    if value is None:
        return ""
    text = format(scale * value, fmt)
    text = {"bold": f"**{text}**", "italic": f"*{text}*"}.get(mark, text)
    return text if se is None else f"{text}±{format(scale * Z_95 * se, fmt)}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


MARKS_NOTE = ("± is the half-width of the 95% interval. Bold: best, and resolved from every other "
              "model (the 95% interval of the difference excludes 0); italics: tied for best.")


@dataclass
class PairedComparison:
    database: str
    first: int  # model indices
    second: int
    images: int  # scored by both
    differences: dict[str, tuple[float, tuple[float, float]]]  # metric -> (first - second, interval)


def paired_comparisons(models: list[ModelResults]) -> list[PairedComparison]:
    """Per A3 database, every two models with logged samples, on the images both scored: the
    SRCC and PLCC differences with paired-bootstrap 95% intervals."""
    comparisons = []
    for db in A3_DATABASES.values():
        points = {i: {item[2]: item for item in _read_a3_items(m.samples[db.task])}
                  for i, m in enumerate(models) if db.task in m.samples}
        for first in points:
            for second in (j for j in points if j > first):
                shared = [path for path in points[first] if path in points[second]]
                if len(shared) < 3:
                    continue
                items = [[points[i][path] for path in shared] for i in (first, second)]
                strata = a3_scoring.cgiqa_halves(shared) if db.name == "cgiqa6k" else [range(len(shared))]
                strata = [np.asarray(stratum) for stratum in strata]
                scores = [[item[0] for item in model_items] for model_items in items]
                mos = [item[1] for item in items[0]]
                differences = {}
                for name in ("srcc", "plcc"):
                    figure = getattr(a3_scoring, f"{name}_cgiqa" if db.name == "cgiqa6k" else name)
                    replicates = correlation_replicates(name, scores, mos, strata, MAX_RESAMPLES)
                    differences[name] = (figure(items[0]) - figure(items[1]),
                                         percentile_interval(replicates[0] - replicates[1]))
                comparisons.append(PairedComparison(db.name, first, second, len(shared), differences))
    return comparisons


def _paired_resolution(comparisons: list[PairedComparison], database: str, metric: str) -> dict[int, dict[int, bool]]:
    found: dict[int, dict[int, bool]] = {}
    for c in comparisons:
        if c.database == database:
            is_resolved = resolved(c.differences[metric][1])
            found.setdefault(c.first, {})[c.second] = found.setdefault(c.second, {})[c.first] = is_resolved
    return found


def a3_table(models: list[ModelResults], comparisons: list[PairedComparison] = (), paper: bool = False) -> str:
    """The A3 table; with ``paper``, the paper's published rows below the models, ranked with them
    (a published figure is taken as exact: it carries no interval)."""
    published = list(PUBLISHED_A3.items()) if paper else []
    columns = []
    for index, db in enumerate(A3_DATABASES.values()):
        cells = []
        for pair_index, name in enumerate(("srcc", "plcc")):
            entries = [(m.metric(db.task, name), m.stderr(db.task, name)) for m in models]
            entries += [(figures[index][pair_index], 0.0) for _, figures in published]
            marks = _column_marks(entries, _paired_resolution(comparisons, db.name, name))
            shown = [(value, None if i >= len(models) else se) for i, (value, se) in enumerate(entries)]
            cells.append([_cell(entry, mark, ".3f") for entry, mark in zip(shown, marks)])
        columns.append(["" if not s and not p else f"{s}/{p}" for s, p in zip(*cells)])
    names = [m.name for m in models] + [f"{name} (published)" for name, _ in published]
    rows = [[name, *(column[i] for column in columns)] for i, name in enumerate(names)]
    return _table(["Model", *(db.title for db in A3_DATABASES.values())], rows)


def a1_table(models: list[ModelResults]) -> str:
    columns = []
    for metric in A1_COLUMNS:
        entries = [(m.metric(A1_TASK, metric), m.stderr(A1_TASK, metric)) for m in models]
        columns.append([_cell(entry, mark, ".2f", 100) for entry, mark in zip(entries, _column_marks(entries))])
    rows = [[m.name, *(column[i] for column in columns)] for i, m in enumerate(models)]
    return _table(["Model", *A1_COLUMNS.values()], rows)


def abench_columns(models: list[ModelResults]) -> list[str]:
    """A-Bench's accuracy metrics in the models' results, in hierarchy order: each part, then its
    areas, each area then its aspects (whatever categories the data had), overall last."""
    names = {key.split(",", 1)[0] for m in models for key in m.results.get(ABENCH_TASK, {})}
    categories = sorted(n for n in names if n.startswith("acc_") and not n.endswith(("_stderr", "_judged")))
    return [*categories, "acc"] if "acc" in names else categories


def abench_table(models: list[ModelResults]) -> str:
    columns, metrics = [], abench_columns(models)
    for metric in metrics:
        entries = [(m.metric(ABENCH_TASK, metric), m.stderr(ABENCH_TASK, metric)) for m in models]
        columns.append([_cell(entry, mark, ".2f", 100) for entry, mark in zip(entries, _column_marks(entries))])
    rows = [[m.name, *(column[i] for column in columns)] for i, m in enumerate(models)]
    headings = ["Overall" if metric == "acc" else metric.removeprefix("acc_") for metric in metrics]
    return _table(["Model", *headings], rows)


def comparisons_table(models: list[ModelResults], comparisons: list[PairedComparison]) -> str:
    def difference(value: float, interval: tuple[float, float]) -> str:
        verdict = "resolved" if resolved(interval) else "not resolved"
        return f"{value:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}] {verdict}"

    rows = [[A3_DATABASES[c.database].title, f"{models[c.first].name} − {models[c.second].name}", str(c.images),
             *(difference(*c.differences[name]) for name in ("srcc", "plcc"))] for c in comparisons]
    return _table(["Database", "Models", "Images", "SRCC difference [95%]", "PLCC difference [95%]"], rows)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "model"


def _read_a3_items(path: Path) -> list[tuple[float, float, str]]:
    """(model score, MOS, img_path) per logged A3 sample."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                score, value, img_path = json.loads(line)["srcc"]
                items.append((float(score), float(value), str(img_path)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}: line {number} is not an A3 sample ({err})") from None
    return items


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
            items = _read_a3_items(model.samples[db.task])
            scores, mos = [item[0] for item in items], [item[1] for item in items]
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
    paper: bool = False,
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
    comparisons = paired_comparisons(ordered)
    parts = [
        "# Q-Bench results", "",
        "## A3: assessment (SRCC/PLCC)", "", a3_table(ordered, comparisons, paper), "",
        *([f"Rows marked (published): the Q-Bench paper's figures, from {PUBLISHED_SOURCE}; its NIQE row "
           "was computed on other image splits and column order, so the `niqe` model is not expected "
           "to match it.", ""] if paper else []),
        f"## A1: perception (accuracy %, {A1_TASK})", "", a1_table(ordered), "", MARKS_NOTE, "",
    ]
    if any(ABENCH_TASK in m.results for m in ordered):
        parts += [f"## A-Bench: AI-generated images (accuracy %, {ABENCH_TASK})", "", abench_table(ordered), "",
                  "Columns are the categories' levels, as the questions name them (part, area, aspect).", ""]
    if comparisons:
        parts += ["## A3: paired comparisons (bootstrap over the images both models scored)", "",
                  comparisons_table(ordered, comparisons), ""]
    if scatter or bars:
        parts += ["## Plots", ""]
        parts += [f"![{path.stem}]({path.name})" for path in [*scatter, *([bars] if bars else [])]]
        parts.append("")
    report = out / REPORT_FILE
    report.write_text("\n".join(parts), encoding="utf-8")
    return report
