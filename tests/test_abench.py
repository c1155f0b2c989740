"""A-Bench: the hub row and the release row as published, categories derived from the strings,
the demo tasks through lm-eval, the export the authors take, and the report's table."""

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from conftest import evaluate_scripted
from PIL import Image

from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.utils import doc_to_text
from qbench_tasks.abench import abench
from qbench_tasks.abench.convert import convert_abench
from qbench_tasks.abench.export import abench_submission
from qbench_tasks.abench.utils import process_results
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.data.location import recorded_identity
from qbench_tasks.report import write_report

BIN = Path(sys.executable).parent
# q-future/A-Bench-HF's first dev row, as its README prints it (the image left out).
HUB_ROW = {"id": 0, "question": "May I ask where the scene in the picture is located?", "option0": "Forest",
           "option1": "Riverside", "option2": "Desert", "option3": "N/A",
           "category": "part1 -> bag_of_words -> attribute", "correct_choice": "B"}
# The prompt the A-Bench README gives for that row.
HUB_ROW_PROMPT = ("May I ask where the scene in the picture is located?\nA. Forest\nB. Riverside\nC. Desert\n"
                  "Answer with the option's letter from the given choices directly.")
# An item of the release's Abench.json, as its README prints it.
RELEASE_ROW = {"img_path": "part1_0000.png",
               "question": "What is the color of the windows in the house in the picture?",
               "answers": ["white", "yellow", "blue"], "category": "part1 -> basic_recognition -> major"}
SECOND_ROW = {"img_path": "part2_0000.png", "question": "Which distortion does the image show?",
              "answers": ["Blur", "Noise", "None", "Banding"], "category": "part2 -> technical -> distortion"}


def test_the_published_hub_row_reads_as_the_authors_prompt_and_scores_by_its_category_levels():
    question = question_of({**HUB_ROW, "prompt_style": "letter"})
    assert question.options == ("Forest", "Riverside", "Desert") and question.answer == 1
    assert doc_to_text({**HUB_ROW, "prompt_style": "letter"}) == "<image>" + HUB_ROW_PROMPT
    assert abench.category_names(HUB_ROW["category"]) == ["part1", "part1_bag_of_words",
                                                          "part1_bag_of_words_attribute"]
    right, wrong = process_results(HUB_ROW, ["B"]), process_results(HUB_ROW, ["The answer is A. Forest"])
    assert right == {"acc": 1.0, "acc_part1": 1.0, "acc_part1_bag_of_words": 1.0,
                     "acc_part1_bag_of_words_attribute": 1.0, "unparsed_rate": 0.0}
    assert wrong == {**{key: 0.0 for key in right}, "unparsed_rate": 0.0}
    # a level the published strings did not show is derived all the same
    assert abench.category_names(" Part 2 ->Generative Distortion-> Hands ") == [
        "part_2", "part_2_generative_distortion", "part_2_generative_distortion_hands"]


def test_a_hub_split_without_an_a_bench_column_is_named():
    abench.check_columns([*HUB_ROW, "image"], "q-future/A-Bench-HF", "dev")
    with pytest.raises(ValueError, match=r"q-future/A-Bench-HF \(dev split\) lacks the A-Bench column\(s\) "
                                         r"category, correct_choice"):
        abench.check_columns([c for c in [*HUB_ROW, "image"] if c not in ("category", "correct_choice")],
                             "q-future/A-Bench-HF", "dev")
    abench.check_columns([c for c in [*HUB_ROW, "image"] if c != "correct_choice"], "hub", "test")


@pytest.fixture
def release(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for i, row in enumerate((RELEASE_ROW, SECOND_ROW)):
        Image.new("RGB", (24, 16), (40 * i, 90, 160)).save(images / row["img_path"])
    labels = tmp_path / "Abench.json"
    labels.write_text(json.dumps([RELEASE_ROW, SECOND_ROW], indent=1))
    return labels, images


def test_the_release_converts_for_prediction_and_with_an_answer_key_for_scoring(release, tmp_path):
    labels, images = release
    convert_abench(labels, images, tmp_path / "data")
    test = datasets.load_dataset(str(tmp_path / "data" / "abench"), cache_dir=str(tmp_path / "c1"))["test"]
    assert test[0] | {"image": None} == {
        "image": None, "img_path": "part1_0000.png", "id": 0, "question": RELEASE_ROW["question"],
        "option0": "white", "option1": "yellow", "option2": "blue", "option3": "N/A",
        "category": RELEASE_ROW["category"], "correct_choice": None, "image_sha256": test[0]["image_sha256"]}
    assert recorded_identity(tmp_path / "data" / "abench") == "abench/abench"

    key = tmp_path / "key.json"
    key.write_text(json.dumps([{"img_path": "part1_0000.png", "correct_ans": "blue"},
                               {"img_path": "part2_0000.png", "correct_ans": "Noise"}]))
    convert_abench(labels, images, tmp_path / "data", answers=key)
    both = datasets.load_dataset(str(tmp_path / "data" / "abench"), cache_dir=str(tmp_path / "c2"))
    assert set(both) == {"dev", "test"} and both["dev"]["correct_choice"] == ["C", "B"]


@pytest.mark.parametrize("change, problem", [
    ({"category": None}, "no category"),
    ({"category": ""}, "no category"),
    ({"category": "part1 ->  -> major"}, "has an empty level"),
    ({"answers": ["white", "N/A"]}, "pads missing options with"),
    ({"answers": ["white"]}, "1 answers; A-Bench questions have 2 to 4"),
])
def test_a_release_row_that_cannot_be_scored_is_named(release, tmp_path, change, problem):
    labels, images = release
    labels.write_text(json.dumps([RELEASE_ROW, {**SECOND_ROW, **change}]))
    with pytest.raises(ConversionError, match=rf"Abench.json: row 1 \(part2_0000.png\): .*{problem}"):
        convert_abench(labels, images, tmp_path / "data")


def test_an_answer_key_must_answer_every_row_from_its_candidates(release, tmp_path):
    labels, images = release
    key = tmp_path / "key.json"
    for rows, problem in (([{"img_path": "part1_0000.png", "correct_ans": "blue"}],
                           r"row 1 \(part2_0000.png\): no answer in the answer key"),
                          ([{"img_path": "part1_0000.png", "correct_ans": "green"}],
                           r"row 0 \(part1_0000.png\): the answer key's 'green' is not among the answers"),
                          ([{"img_path": "part1_0000.png", "correct_ans": "blue"},
                            {"img_path": "part2_0000.png", "correct_ans": "Noise"},
                            {"img_path": "part9.png", "correct_ans": "x"}], "names 1 image.* part9.png")):
        key.write_text(json.dumps(rows))
        with pytest.raises(ConversionError, match=problem):
            convert_abench(labels, images, tmp_path / "data", answers=key)
    assert not (tmp_path / "data" / "abench").exists()


def letter(doc):
    return doc["correct_choice"]


def test_demo_tasks_report_every_level_of_their_categories_with_standard_errors():
    results = evaluate_scripted(letter, "abench_demo", {})["results"]["abench_demo"]
    names = {key.split(",")[0] for key in results if not key.endswith("_stderr,none") and "," in key}
    assert {"acc", "acc_part1", "acc_part2", "acc_part1_basic_recognition", "acc_part1_basic_recognition_major",
            "acc_part1_bag_of_words_attribute", "acc_part2_technical", "acc_part2_technical_distortion",
            "acc_part2_technical_severity", "unparsed_rate"} <= names
    assert all(results[f"{name},none"] == 1.0 for name in names if name.startswith("acc"))
    assert results["acc_stderr,none"] == 0.0 and isinstance(results["acc_part2_technical_stderr,none"], float)
    half = evaluate_scripted(lambda doc: letter(doc) if doc["category"].startswith("part1") else "Z",
                             "abench_demo", {})["results"]["abench_demo"]
    assert half["acc_part1,none"] == 1.0 and half["acc_part2,none"] == 0.0
    assert half["unparsed_rate,none"] == pytest.approx(45 / 91)  # the part-2 questions: indices 2, 3 mod 4


def test_the_test_split_exports_what_the_authors_take(release, tmp_path):
    labels, images = release
    convert_abench(labels, images, tmp_path / "data")
    run = evaluate_scripted(lambda doc: "C", "abench_test", {"qbench_data_dir": str(tmp_path / "data")},
                            log_samples=True)
    assert set(run["results"]["abench_test"]) >= {"unparsed_rate,none"}
    assert not any(key.startswith("acc") for key in run["results"]["abench_test"])
    rows = abench_submission(run["samples"]["abench_test"])
    assert rows == [{**RELEASE_ROW, "response": "C", "pred_ans": "blue"},
                    {**SECOND_ROW, "response": "C", "pred_ans": "None"}]

    samples = tmp_path / "samples_abench_test.jsonl"
    samples.write_text("".join(json.dumps(s, default=str) + "\n" for s in run["samples"]["abench_test"]))
    export = subprocess.run([str(BIN / "qbench"), "export", "abench", "--samples", str(samples), "--out",
                             str(tmp_path / "results.jsonl")], capture_output=True, text=True)
    assert export.returncode == 0 and "wrote 2 answers" in export.stdout, export.stderr
    assert [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()] == rows
    a1 = subprocess.run([str(BIN / "qbench"), "export", "a1", "--samples", str(samples), "--out",
                         str(tmp_path / "a1.json")], capture_output=True, text=True)
    assert a1.returncode == 1 and "an A-Bench question: `qbench export abench`" in a1.stderr


def test_the_report_has_an_a_bench_table_in_hierarchy_order(tmp_path):
    def results(acc):
        metrics = {"acc,none": acc, "acc_stderr,none": 0.01, "acc_part2,none": acc - 0.1,
                   "acc_part1,none": acc + 0.1, "acc_part1_bag_of_words,none": acc,
                   "acc_part1_bag_of_words_attribute,none": acc, "unparsed_rate,none": 0.0}
        return {"results": {"abench_dev": metrics}, "config": {"model_args": "pretrained=m"}}

    files = []
    for name, acc in (("a", 0.6), ("b", 0.5)):
        files.append(tmp_path / f"results_{name}.json")
        files[-1].write_text(json.dumps(results(acc)))
    report = write_report(files, tmp_path / "report", names=["a", "b"]).read_text()
    table = report.split("## A-Bench: AI-generated images (accuracy %, abench_dev)")[1].strip().splitlines()
    assert table[0] == ("| Model | part1 | part1_bag_of_words | part1_bag_of_words_attribute | part2 | Overall |")
    # without standard errors no model is resolved from another: all in italics (tied); with them, a bold best
    assert table[2] == "| a | *70.00* | *60.00* | *60.00* | *50.00* | **60.00**±1.96 |"
    assert table[3] == "| b | *60.00* | *50.00* | *50.00* | *40.00* | 50.00±1.96 |"


def test_a_task_whose_split_its_source_lacks_names_the_source_and_what_gives_it(release, tmp_path):
    """lm-eval alone stops on a bare KeyError: 'test'. A converted A-Bench with only the scored
    split, and the demo's LLVisionQA (dev only), asked for their test splits."""
    from qbench_tasks.data.location import MissingDatasetError
    from qbench_tasks.demo.data import ensure_demo_a1_dataset

    labels, images = release
    key = tmp_path / "key.json"
    key.write_text(json.dumps([{"img_path": "part1_0000.png", "correct_ans": "blue"},
                               {"img_path": "part2_0000.png", "correct_ans": "Noise"}]))
    convert_abench(labels, images, tmp_path / "data", answers=key)
    with pytest.raises(MissingDatasetError, match=r"abench: \S+/data/abench has no test split \(it has: dev\); the "
                                                  r"release's Abench.json converts into it: qbench convert abench"):
        evaluate_scripted(letter, "abench_test", {"qbench_data_dir": str(tmp_path / "data")})
    a1 = ensure_demo_a1_dataset()
    with pytest.raises(MissingDatasetError, match=rf"qbench_a1: {a1} has no test split \(it has: dev\); convert it "
                                                  r"with qbench convert a1"):
        evaluate_scripted(letter, "qbench_a1_test", {"qbench_data_dir": str(a1.parent)})
