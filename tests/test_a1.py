"""A1 (LLVisionQA): conversion, answer extraction, per-category metrics, layouts, export."""

import json
from collections import defaultdict

import pytest
from conftest import SHARED_DATA, evaluate_scripted, run_lm_eval
from PIL import Image

from qbench_tasks import TASKS_DIR
from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.convert import convert_a1
from qbench_tasks.a1.export import a1_submission, export_a1
from qbench_tasks.a1.llvisionqa import QUESTION_TYPES
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.data.parquet import load_parquet_dataset

CATEGORY_METRICS = ["acc_yes_or_no", "acc_what", "acc_how", "acc_distortion", "acc_other",
                    "acc_incontext_distortion", "acc_incontext_other"]


@pytest.fixture(scope="module")
def official_labels():
    folder = SHARED_DATA / "llvisionqa"
    if not folder.is_dir():
        pytest.skip(f"official LLVisionQA label files not found at {folder} (CI provides ../shared)")
    return {split: json.loads((folder / f"llvisionqa_{split}.json").read_text()) for split in ("dev", "test")}


@pytest.fixture(scope="module")
def llvisionqa_data_dir(official_labels, tmp_path_factory):
    """The real label files converted with small generated images; both splits."""
    root = tmp_path_factory.mktemp("llvisionqa")
    images = root / "images"
    images.mkdir()
    for split, rows in official_labels.items():
        for i, row in enumerate(rows):
            Image.new("RGB", (12 + i % 7, 10), (i % 251, 60, 120)).save(images / row["img_path"])
        labels = root / f"llvisionqa_{split}.json"
        labels.write_text(json.dumps(rows))
        report = convert_a1(labels, images, split, root / "data")
        assert report.written == len(rows)
    return root / "data"


def test_converted_dev_and_test_keep_counts_codes_and_order(llvisionqa_data_dir, official_labels):
    data = load_parquet_dataset(llvisionqa_data_dir / "llvisionqa")
    dev, test = data["dev"], data["test"]
    count = lambda ds, key: [ds[key].count(code) for code in sorted(set(ds[key]))]  # noqa: E731
    assert count(dev, "type") == [550, 452, 493]
    assert count(dev, "concern") == [514, 432, 304, 245]
    assert count(test, "type") == [548, 461, 486]
    assert count(test, "concern") == [521, 419, 292, 263]
    assert dev["candidates"] == [row["candidates"] for row in official_labels["dev"]]
    assert set(test["correct_ans"]) == {None}
    card = (llvisionqa_data_dir / "llvisionqa" / "README.md").read_text()
    assert "path: data/dev-*" in card and "path: data/test-*" in card and "| `test` | 1495 |" in card


def test_type_codes_match_the_question_wording(official_labels):
    """The known trap: a swapped What/How mapping. The project's code -> name table must name each
    official code's questions by their first word."""
    first_words = {"yes_or_no": {"is", "are", "does", "do", "can", "would", "was", "has", "will"},
                   "what": {"what", "which"}, "how": {"how", "how's"}}
    first = defaultdict(list)
    for row in official_labels["dev"]:
        first[row["type"]].append(row["question"].split()[0].lower())
    for code, name in QUESTION_TYPES.items():
        share = sum(word in first_words[name] for word in first[code]) / len(first[code])
        assert share > 0.8, (code, name, share)


def official_letter(doc):
    return "ABCD"[doc["candidates"].index(doc["correct_ans"])]


def test_always_correct_letter_scores_one_everywhere(llvisionqa_data_dir):
    metadata = {"qbench_data_dir": str(llvisionqa_data_dir)}
    results = evaluate_scripted(official_letter, "qbench_a1_dev", metadata)["results"]["qbench_a1_dev"]
    for metric in ["acc", *CATEGORY_METRICS]:
        assert results[f"{metric},none"] == 1.0
    assert results["unparsed_rate,none"] == 0.0


def test_always_a_scores_the_share_of_first_option_answers(llvisionqa_data_dir, official_labels):
    metadata = {"qbench_data_dir": str(llvisionqa_data_dir)}
    results = evaluate_scripted(lambda doc: "A", "qbench_a1_dev", metadata)["results"]["qbench_a1_dev"]
    # Computed here from the raw file: type 0/1/2 = yes-or-no/what/how; concern 0..3 as in SOURCES.md.
    names = {("type", 0): "acc_yes_or_no", ("type", 1): "acc_what", ("type", 2): "acc_how",
             ("concern", 0): "acc_distortion", ("concern", 1): "acc_other",
             ("concern", 2): "acc_incontext_distortion", ("concern", 3): "acc_incontext_other"}
    first = [row["candidates"][0] == row["correct_ans"] for row in official_labels["dev"]]
    assert results["acc,none"] == pytest.approx(sum(first) / len(first))
    assert sum(first) == 562
    for (key, code), metric in names.items():
        mine = [f for f, row in zip(first, official_labels["dev"]) if row[key] == code]
        assert results[f"{metric},none"] == pytest.approx(sum(mine) / len(mine)), metric


def test_unparsed_answers_count_wrong_and_are_reported(llvisionqa_data_dir):
    metadata = {"qbench_data_dir": str(llvisionqa_data_dir)}
    answer = lambda doc: "I cannot tell." if doc["type"] == 0 else official_letter(doc)  # noqa: E731
    results = evaluate_scripted(answer, "qbench_a1_dev", metadata)["results"]["qbench_a1_dev"]
    assert results["unparsed_rate,none"] == pytest.approx(550 / 1495)
    assert results["acc_yes_or_no,none"] == 0.0 and results["acc_what,none"] == 1.0
    assert results["acc,none"] == pytest.approx(1 - 550 / 1495)


OPTIONS = ["Underexposure", "Motion Blur", "Blur", "Compression Artifacts"]
YES_NO = ["Yes", "No"]
HOW = ["High", "Medium", "Low"]


@pytest.mark.parametrize(
    "response,options,expected",
    [
        ("B", OPTIONS, 1), ("(B)", OPTIONS, 1), ("B.", OPTIONS, 1), ("B)", OPTIONS, 1),
        (" C\n", OPTIONS, 2), ("[D]", OPTIONS, 3), ("B. Motion Blur", OPTIONS, 1),
        ("B - Motion blur", OPTIONS, 1), ("Answer: B", OPTIONS, 1), ("answer: C", OPTIONS, 2),
        ("The answer is B", OPTIONS, 1), ("The answer is (C).", OPTIONS, 2),
        ("The correct answer is: D", OPTIONS, 3), ("Option A", OPTIONS, 0),
        ("I choose C because the edges are soft.", OPTIONS, 2),
        ("Motion blur", OPTIONS, 1), ("motion blur", OPTIONS, 1), ("Blur", OPTIONS, 2),
        ("The image suffers from compression artifacts.", OPTIONS, 3),
        ("The main problem is motion blur caused by camera shake.", OPTIONS, 1),
        ("Yes", YES_NO, 0), ("no.", YES_NO, 1), ("No, the image is not blurry.", YES_NO, 1),
        ("Yes, there is no visible noise.", YES_NO, 0), ("The lighting is low.", HOW, 2),
        ("Medium", HOW, 1),
        # Unparsed: no rule names exactly one option.
        ("", OPTIONS, None), ("   ", OPTIONS, None), ("A or B", OPTIONS, None),
        ("Either B or C.", OPTIONS, None), ("The answer is B or C", OPTIONS, None),
        ("E", OPTIONS, None), ("C", YES_NO, None), ("D. Compression artifacts", HOW, None),
        ("the answer is a blurry image", OPTIONS, None), ("答案是B", OPTIONS, None),
        ("La imagen está borrosa.", OPTIONS, None), ("I am not sure.", OPTIONS, None),
        ("Underexposure and motion blur", OPTIONS, None), ("High or low", HOW, None),
    ],
)
def test_answer_extraction(response, options, expected):
    assert extract_choice(response, options) == expected


@pytest.mark.parametrize(
    "row,problem",
    [
        ({"type": 3}, "unknown type 3"),
        ({"type": True}, "unknown type True"),
        ({"concern": 4}, "unknown concern 4"),
        ({"concern": False}, "unknown concern False"),
        ({"candidates": ["Yes"], "correct_ans": "Yes"}, "1 candidates"),
        ({"candidates": ["a", "b", "c", "d", "e"], "correct_ans": "a"}, "5 candidates"),
        ({"correct_ans": "Maybe"}, "correct_ans 'Maybe' is not among the candidates"),
        ({"correct_ans": None}, "no 'correct_ans'"),
        ({"candidates": ["Yes", "Yes"]}, "distinct"),
        ({"question": None}, "'question' missing"),
    ],
)
def test_malformed_label_rows_are_refused_with_row_named(row, problem, tmp_path):
    good = {"type": 0, "concern": 0, "question": "Is it blurry?", "img_path": "x.png",
            "candidates": ["Yes", "No"], "correct_ans": "No"}
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "x.png")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([dict(good, img_path="y.png"), {**good, **row}]))
    with pytest.raises(ConversionError, match=rf"row 1 \(x.png\): .*{problem}|row 1: .*{problem}"):
        convert_a1(labels, tmp_path / "images", "dev", tmp_path / "data")


@pytest.fixture(scope="module")
def demo_a1_dir():
    from qbench_tasks.demo.data import ensure_demo_a1_dataset

    return ensure_demo_a1_dataset()


def test_demo_questions_cover_every_type_and_concern(demo_a1_dir):
    dev = load_parquet_dataset(demo_a1_dir)["dev"]
    assert set(dev["type"]) == {0, 1, 2} and set(dev["concern"]) == {0, 1, 2, 3}
    assert {len(c) for c in dev["candidates"]} == {2, 3, 4}
    results = evaluate_scripted(official_letter, "qbench_a1_demo", {})["results"]["qbench_a1_demo"]
    assert results["acc,none"] == 1.0


def test_llava_prompt_style_by_metadata(demo_a1_dir):
    results = evaluate_scripted(official_letter, "qbench_a1_demo", {"a1_prompt_style": "llava"},
                                log_samples=True, limit=1)
    context = results["samples"]["qbench_a1_demo"][0]["arguments"][0][0]
    assert context == "<image>Is this image blurry?\nChoose between one of the options as follows:\nA. Yes\nB. No\n"
    default = evaluate_scripted(official_letter, "qbench_a1_demo", {}, log_samples=True, limit=1)
    assert default["samples"]["qbench_a1_demo"][0]["arguments"][0][0] == (
        "<image>Is this image blurry?\nA. Yes\nB. No\n"
        "Answer with the option's letter from the given choices directly."
    )
    with pytest.raises(ValueError, match="a1_prompt_style"):
        evaluate_scripted(official_letter, "qbench_a1_demo", {"a1_prompt_style": "chatty"})


def test_multiple_choice_task_end_to_end_with_the_fixture_model(tiny_model, llvisionqa_data_dir):
    import torch

    results = run_lm_eval(["qbench_a1_dev_mc"], tiny_model, batch_size=4, limit=150,
                          metadata={"qbench_data_dir": str(llvisionqa_data_dir)})
    samples = results["samples"]["qbench_a1_dev_mc"]
    assert len(samples) == 150
    assert [len(s["arguments"]) for s in samples] == [len(s["doc"]["candidates"]) for s in samples]
    chosen_right = [
        float(int(torch.tensor([ll for ll, _ in s["filtered_resps"]]).argmax()) == s["target"])
        for s in samples
    ]
    metrics = results["results"]["qbench_a1_dev_mc"]
    assert metrics["acc,none"] == pytest.approx(sum(chosen_right) / len(chosen_right))
    assert all(f"{m},none" in metrics for m in CATEGORY_METRICS)
    assert metrics["unparsed_rate,none"] == 0.0


def test_submission_rows(llvisionqa_data_dir, official_labels):
    samples = [
        {"doc_id": 1, "doc": dict(official_labels["test"][1], image="hash"), "filtered_resps": ["B"]},
        {"doc_id": 0, "doc": dict(official_labels["test"][0], image="hash"), "filtered_resps": ["no idea"]},
    ]
    rows = a1_submission(sorted(samples, key=lambda s: s["doc_id"]))
    assert rows[0] == {**official_labels["test"][0], "response": "no idea", "pred_ans": None}
    assert rows[1] == {**official_labels["test"][1], "response": "B",
                       "pred_ans": official_labels["test"][1]["candidates"][1]}


def test_export_reads_lm_eval_samples_file(tmp_path):
    bad = tmp_path / "samples.jsonl"
    bad.write_text('{"doc_id": 0}\n')
    with pytest.raises(ValueError, match="line 1 is not an lm-eval sample record"):
        export_a1(bad, tmp_path / "out.json")


def test_test_split_predicts_only_and_exports_the_submission(tiny_model, llvisionqa_data_dir, official_labels,
                                                              tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = Path(sys.executable).parent
    metadata = json.dumps({"qbench_data_dir": str(llvisionqa_data_dir)})
    run = subprocess.run(
        [str(bin_dir / "qbench"), "run", "--model", "hf-multimodal", "--model_args", f"pretrained={tiny_model}",
         "--tasks", "qbench_a1_test", "--limit", "12", "--device", "cpu", "--batch_size", "4",
         "--metadata", metadata, "--log_samples", "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    table = [line.split("|") for line in run.stdout.splitlines() if line.startswith("|")][2:]
    assert {row[5].strip() for row in table} == {"unparsed_rate"}  # no accuracy without answers
    (samples,) = (tmp_path / "out").rglob("samples_qbench_a1_test_*.jsonl")

    export = subprocess.run([str(bin_dir / "qbench"), "export", "a1", "--samples", str(samples),
                             "--out", str(tmp_path / "submission.json")], capture_output=True, text=True)
    assert export.returncode == 0 and "wrote 12 answers" in export.stdout
    rows = json.loads((tmp_path / "submission.json").read_text())
    expected = official_labels["test"][:12]
    assert [{k: r[k] for k in expected[0]} for r in rows] == expected
    for row in rows:
        assert isinstance(row["response"], str)
        assert row["pred_ans"] is None or row["pred_ans"] in row["candidates"]
        assert row["pred_ans"] == (None if extract_choice(row["response"], row["candidates"]) is None
                                   else row["candidates"][extract_choice(row["response"], row["candidates"])])


def test_qbench_group_bundles_a1_and_a3():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    assert {"qbench", "qbench_a1", "qbench_a3", "qbench_demo"} <= set(manager.all_tasks)
    tasks = set(manager.all_subtasks)
    expected = {"qbench_a1_dev", "qbench_a1_test", "qbench_a1_dev_mc", "qbench_a1_demo", "qbench_a3_demo",
                *(f"qbench_a3_{n}" for n in ("koniq", "spaq", "livefb", "liveitw", "cgiqa6k", "agiqa3k", "kadid10k"))}
    assert expected <= tasks
