"""``qbench``: lm_eval with Q-Bench preset, data conversion and export, and the offline demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qbench_tasks import TASKS_DIR
from qbench_tasks.a1.llvisionqa import SPLITS
from qbench_tasks.a3.databases import A3_DATABASES

DEMO_TASKS = "qbench_demo"  # the tag of every demo task


def run_lm_eval(lm_eval_args: list[str]) -> None:
    """``lm_eval run`` with the Q-Bench tasks and models added, even where the start-up hook is
    turned off (``QBENCH_LM_EVAL_AUTOLOAD=0``); a user's ``--include_path`` is added beside them."""
    from lm_eval.__main__ import cli_evaluate

    import qbench_lm_eval_autoload

    qbench_lm_eval_autoload.install()
    sys.argv = ["lm_eval", "run", *lm_eval_args]
    cli_evaluate()
    _end_process_group()


def _end_process_group() -> None:
    """Under torchrun / accelerate, close the process group lm-eval leaves open: a rank that exits
    with it open while another is still writing results can abort at interpreter shutdown
    ("terminate called without an active exception"), and torchrun then fails the whole run."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _convert(args: argparse.Namespace) -> None:
    from qbench_tasks.a1.convert import convert_a1
    from qbench_tasks.a2.convert import convert_a2
    from qbench_tasks.a3.convert import convert_a3
    from qbench_tasks.abench.convert import convert_abench
    from qbench_tasks.data.conversion import ConversionError
    from qbench_tasks.data.parquet import DatasetWriteError
    from qbench_tasks.qbench2.convert import convert_a1pair

    try:
        outside = {"allow_outside_images": args.allow_outside_images}
        if args.kind == "a1":
            report = convert_a1(args.labels, args.images, args.split, args.out, args.skip_bad, **outside)
        elif args.kind == "a1pair":
            report = convert_a1pair(args.labels, args.images, args.split, args.out, args.skip_bad, **outside)
        elif args.kind == "a2":
            report = convert_a2(args.images, args.out, args.golden, args.skip_bad, **outside)
        elif args.kind == "abench":
            report = convert_abench(args.labels, args.images, args.out, args.answers, args.skip_bad, **outside)
        else:
            report = convert_a3(args.database, args.labels, args.images, args.out, args.skip_bad, **outside)
    except (ConversionError, DatasetWriteError) as err:
        raise SystemExit(f"qbench convert: {err}") from None
    for message in report.skipped:
        print(f"skipped {message}", file=sys.stderr)
    print(f"wrote {report.written} rows to {report.out_dir}; skipped {len(report.skipped)}")


def _fetch(args: argparse.Namespace) -> None:
    from qbench_tasks.a3.databases import A3_DATABASES
    from qbench_tasks.a3.fetch import fetch_a3
    from qbench_tasks.data.location import fetched_data_dir
    from qbench_tasks.settings import read_settings

    out = Path(args.out).expanduser() if args.out else fetched_data_dir(read_settings({}))
    names = list(A3_DATABASES) if args.database == "all" else [args.database]
    if len(names) > 1:
        _say_total(names, args.revision)
    failed = []
    for name in names:
        try:
            report = fetch_a3(A3_DATABASES[name], out, args.revision, args.skip_bad)
        except (OSError, ValueError) as err:  # FetchError, ConversionError, DatasetWriteError: one line each
            if len(names) == 1:
                raise SystemExit(f"qbench fetch: {err}") from None
            print(f"qbench fetch: {err}", file=sys.stderr)
            failed.append(name)
            continue
        for message in report.skipped:
            print(f"skipped {message}", file=sys.stderr)
        print(f"wrote {report.written} rows to {report.out_dir}; skipped {len(report.skipped)}")
    if failed:
        raise SystemExit(f"qbench fetch: not fetched: {', '.join(failed)} (see above)")


def _say_total(names: list[str], revision: str) -> None:
    """How much all of them take to download, before the first one starts."""
    from qbench_tasks.a3.databases import A3_DATABASES, IMAGES_REPO
    from qbench_tasks.data.download import FetchError, hub_cached, hub_entry, human_size

    archives = dict.fromkeys(A3_DATABASES[name].archive for name in names)
    try:
        entries = [hub_entry(IMAGES_REPO, archive, revision) for archive in archives]
    except FetchError as err:
        raise SystemExit(f"qbench fetch: {err}") from None
    todo = sum(e.size for e in entries if hub_cached(e) is None)
    print(f"{len(names)} databases from {len(entries)} archives of {human_size(sum(e.size for e in entries))}; "
          f"{human_size(todo)} to download")


def _export(args: argparse.Namespace) -> None:
    from qbench_tasks.a1.export import export_a1
    from qbench_tasks.a2.export import export_a2
    from qbench_tasks.abench.export import export_abench

    export, what = {"a1": (export_a1, "answers"), "a2": (export_a2, "descriptions"),
                    "abench": (export_abench, "answers")}[args.kind]
    try:
        count = export(args.samples, args.out)
    except (OSError, ValueError) as err:
        raise SystemExit(f"qbench export: {err}") from None
    print(f"wrote {count} {what} to {args.out}")


def _settings(args: argparse.Namespace) -> None:
    from qbench_tasks.settings import settings_table

    print(settings_table())


def _judge(args: argparse.Namespace) -> None:
    from qbench_tasks.a2.judge_command import judge_samples
    from qbench_tasks.judging.spec import JudgeSpec

    try:
        spec = JudgeSpec(model=args.judge_model, model_args=args.judge_model_args, rounds=args.rounds,
                         retries=args.retries, temperature=args.temperature, max_tokens=args.max_tokens,
                         chat=args.chat, cache=args.cache)
        metrics = judge_samples(args.samples, spec, args.out)
    except (OSError, ValueError) as err:
        raise SystemExit(f"qbench judge: {err}") from None
    for name, value in metrics.items():
        print(f"{name:>20}  {value:.4f}")
    print(f"wrote {args.out}/metrics.json and {args.out}/judgements.jsonl")


def _report(args: argparse.Namespace) -> None:
    from qbench_tasks.report import write_report

    try:
        path = write_report(args.results, args.out, args.samples, args.names, args.paper)
    except (OSError, ValueError) as err:
        raise SystemExit(f"qbench report: {err}") from None
    print(f"wrote {path}")


def _demo(args: argparse.Namespace) -> None:
    from qbench_tasks.demo.model import demo_model

    print("qbench demo: building the fixture model and demo data on first use ...", flush=True)
    model_dir = demo_model()
    run_lm_eval(
        [
            "--model", "hf-multimodal",
            # backend: hf-multimodal cannot tell a LLaVA's kind from its config, and says so unasked
            "--model_args", f"pretrained={model_dir},backend=causal",
            "--tasks", DEMO_TASKS,
            "--device", "cpu",
            "--batch_size", str(args.batch_size),
            *args.lm_eval_args,
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    from qbench_tasks.judging.spec import JudgeSpec  # its defaults are the judge command's

    parser = argparse.ArgumentParser(prog="qbench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("tasks-dir", help="print the lm_eval --include_path of the Q-Bench tasks")
    commands.add_parser("settings", help="print every --metadata setting: key, type, default, meaning")

    # Everything after "run" goes to lm_eval untouched (main() dispatches it before parsing).
    commands.add_parser(
        "run", help="lm_eval with the Q-Bench tasks and models available (all args go to lm_eval)"
    )

    convert = commands.add_parser("convert", help="official release files -> HF dataset on disk")
    kinds = convert.add_subparsers(dest="kind", required=True, metavar="KIND")
    a1 = kinds.add_parser("a1", help="LLVisionQA: a split's label JSON + image folder")
    a1.add_argument("--split", required=True, choices=SPLITS)
    a1pair = kinds.add_parser("a1pair", help="Q-Bench+ image pairs: release label file (JSON Lines) + release folder")
    a1pair.add_argument("--split", required=True, choices=SPLITS)
    a2 = kinds.add_parser("a2", help="LLDescribe: image folder (+ golden descriptions, if you have them)")
    a2.add_argument("--golden", help='JSON list of {"img_path", "golden_description"}; its rows become the dataset')
    a3 = kinds.add_parser("a3", help="an A3 IQA database: label JSON + image folder")
    a3.add_argument("--database", required=True, choices=list(A3_DATABASES))
    abench = kinds.add_parser("abench", help="A-Bench: Abench.json + the images of imgs.zip (test split; "
                                             "with --answers, the scored dev split)")
    abench.add_argument("--answers", help='answer key: JSON list of {"img_path", "correct_ans"} (the answer text)')
    for kind, example in ((a1, "llvisionqa_dev.json"), (a1pair, "q-bench2-a1-dev.jsonl"),
                          (a3, "koniq.json"), (abench, "Abench.json")):
        kind.add_argument("--labels", required=True, help=f"official label file, e.g. {example}")
    for kind, written in ((a1, "llvisionqa"), (a1pair, "llvisionqa_pairs"), (a2, "lldescribe"), (a3, "<database>"),
                          (abench, "abench")):
        kind.add_argument("--images", required=True, help=(
            "the release folder holding all_single_images/ (a pair's img_path names its two images there)"
            if kind is a1pair else "folder holding the images (img_path is relative to it)"))
        kind.add_argument("--out", required=True, help=f"data directory; writes OUT/{written}/")
        kind.add_argument(
            "--skip-bad", action="store_true",
            help="skip rows whose image is missing or unreadable (reported) instead of stopping",
        )
        kind.add_argument("--allow-outside-images", action="store_true",
                          help="accept img_path values leading outside --images (absolute, .., symbolic links)")

    fetch = commands.add_parser("fetch", help="download a benchmark's published data and convert it")
    fetch_kinds = fetch.add_subparsers(dest="kind", required=True, metavar="KIND")
    fetch_a3 = fetch_kinds.add_parser(
        "a3", help="an A3 IQA database: images from the Q-Bench authors' hub archive, labels from Q-Bench")
    fetch_a3.add_argument("--database", required=True, choices=[*A3_DATABASES, "all"])
    fetch_a3.add_argument("--out", help="data directory; writes OUT/<database>/ (default: $QBENCH_DATA_DIR, "
                                        "else data/ in the cache folder, where the A3 tasks look)")
    fetch_a3.add_argument("--revision", default="main", help="revision of the hub's image archives")
    fetch_a3.add_argument("--skip-bad", action="store_true",
                          help="skip labelled images that do not decode (reported) instead of stopping")

    export = commands.add_parser("export", help="lm-eval samples -> official submission file")
    export_kinds = export.add_subparsers(dest="kind", required=True, metavar="KIND")
    export_a1 = export_kinds.add_parser("a1", help="A1 answers (e.g. qbench_a1_test) as label objects")
    export_a1.add_argument("--samples", required=True, help="samples_<task>_*.jsonl from --log_samples")
    export_a1.add_argument("--out", required=True, help="JSON file to write")
    export_a2 = export_kinds.add_parser("a2", help="A2 descriptions as {img_path, description}")
    export_a2.add_argument("--samples", required=True, help="samples_qbench_a2_*.jsonl from --log_samples")
    export_a2.add_argument("--out", required=True, help="JSON file to write")
    export_abench = export_kinds.add_parser("abench", help="A-Bench answers (abench_test) as the authors take them")
    export_abench.add_argument("--samples", required=True, help="samples_abench_test_*.jsonl from --log_samples")
    export_abench.add_argument("--out", required=True, help="JSON Lines file to write (results.jsonl)")

    judge = commands.add_parser("judge", help="score logged A2 descriptions with a judge (no regeneration)")
    judge.add_argument("--samples", required=True, help="samples_qbench_a2_*.jsonl from --log_samples")
    judge.add_argument("--judge-model", required=True, help="lm-eval model name, e.g. local-chat-completions, hf")
    judge.add_argument("--judge-model-args", default="", help="its model_args, e.g. model=NAME,base_url=URL")
    judge.add_argument("--rounds", type=int, default=JudgeSpec.rounds)
    judge.add_argument("--retries", type=int, default=JudgeSpec.retries)
    judge.add_argument("--temperature", type=float, default=JudgeSpec.temperature)
    judge.add_argument("--max-tokens", type=int, default=JudgeSpec.max_tokens)
    judge.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                       help="send system + user messages (default: when the judge has a chat template)")
    judge.add_argument("--cache", help="SQLite file of judge replies (default: in the qbench cache folder)")
    judge.add_argument("--out", required=True, help="folder for metrics.json and judgements.jsonl")

    report = commands.add_parser("report", help="lm-eval results of several models -> paper-style tables and plots")
    report.add_argument("results", nargs="+", help="results_*.json files, one per model")
    report.add_argument("--samples", nargs="*", default=[],
                        help="samples_*.jsonl files (default: those beside each results file, same run)")
    report.add_argument("--names", nargs="+", help="row names, one per results file (default: the model)")
    report.add_argument("--out", required=True, help="folder for report.md and the PNG plots")
    report.add_argument("--paper", action="store_true",
                        help="add the Q-Bench paper's published A3 rows to the A3 table, ranked with yours")

    demo = commands.add_parser(
        "demo", help=f"offline demo: tiny local model on the generated demo data ({DEMO_TASKS})"
    )
    demo.add_argument("--batch-size", type=int, default=8)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]):
        return run_lm_eval(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "demo":  # the demo passes unknown options on to lm_eval
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.lm_eval_args = extra
    commands = {"tasks-dir": lambda _: print(TASKS_DIR), "settings": _settings, "convert": _convert, "fetch": _fetch,
                "export": _export, "judge": _judge, "report": _report, "demo": _demo}
    commands[args.command](args)


if __name__ == "__main__":
    main()
