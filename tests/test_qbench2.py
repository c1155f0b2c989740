"""Q-Bench+ (image pairs): conversion of release-style labels, the hub layout, scoring by type and
concern, both images reaching the model in order (parity with a direct forward on LLaVA and the
tiling LLaVA-NeXT), images left on disk until their chunk, and the submission export."""

import json
import math

import datasets
import pytest
import torch
import transformers
from conftest import evaluate_scripted, run_lm_eval
from test_convert_a3 import write_images, write_labels
from test_model_matrix import MARKERS, direct_loglikelihood

from qbench_tasks.a1.export import a1_submission
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.data.lazy_images import doc_to_lazy_image
from qbench_tasks.data.location import recorded_identity
from qbench_tasks.data.parquet import load_parquet_dataset
from qbench_tasks.demo.data import demo_items, demo_pair_questions, ensure_demo_pair_dataset
from qbench_tasks.qbench2 import pairs
from qbench_tasks.qbench2.convert import PAIR_FEATURES, convert_a1pair

NAMES = ["a.png", "b.png", "c.png"]
GOOD = {"img_path": ["a.png", "b.png"], "question": "Which image is blurrier?",
        "candidates": ["The first image", "The second image"], "correct_ans": "The second image",
        "type": 1, "concern": 0}


@pytest.fixture(scope="module")
def demo_pairs():
    return ensure_demo_pair_dataset()


def test_release_style_labels_convert_to_the_hub_layout(tmp_path):
    write_images(tmp_path / "images", NAMES)
    dev = [GOOD, {**GOOD, "img_path": ["c.png", "a.png"], "question": "Are both images noisy?",
                  "candidates": ["Yes", "No", "Maybe"], "correct_ans": "No", "type": 0, "concern": 2, "id": "q7"}]
    test = [{key: value for key, value in row.items() if key != "correct_ans"} for row in dev]
    convert_a1pair(write_labels(tmp_path / "dev.json", dev), tmp_path / "images", "dev", tmp_path / "data")
    convert_a1pair(write_labels(tmp_path / "test.json", test), tmp_path / "images", "test", tmp_path / "data")

    folder = tmp_path / "data" / pairs.DATASET_NAME
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert loaded["dev"].features == PAIR_FEATURES and loaded["test"].num_rows == 2
    first, second = loaded["dev"]
    assert first["id"] == "0" and second["id"] == "q7"
    assert [first[f"option{i}"] for i in range(4)] == ["The first image", "The second image", "N/A", "N/A"]
    assert (first["correct_choice"], second["correct_choice"]) == ("B", "B")
    assert loaded["test"]["correct_choice"] == [None, None]
    assert (second["question_type"], second["question_concern"], second["img_path"]) == (0, 2, ["c.png", "a.png"])
    assert second["image1"].size == (16 + 2, 12 + 2) and second["image2"].size == (16, 12)  # c.png, a.png
    assert recorded_identity(folder) == pairs.IDENTITY


@pytest.mark.parametrize("row, problem", [
    ({"img_path": "a.png"}, "'img_path' must be a list of two image paths"),
    ({"img_path": ["a.png", "b.png", "c.png"]}, "'img_path' must be a list of two image paths"),
    ({"concern": 4}, r"unknown concern 4 \(expected one of \[0, 1, 2, 3\]\)"),
    ({"type": True}, "unknown type True"),
    ({"correct_ans": "The third image"}, "correct_ans 'The third image' is not among the candidates"),
    ({"candidates": ["Yes"], "correct_ans": "Yes"}, "1 candidates"),
])
def test_malformed_pair_rows_are_refused_with_row_named(row, problem, tmp_path):
    write_images(tmp_path / "images", NAMES)
    labels = write_labels(tmp_path / "labels.json", [GOOD, {**GOOD, "question": "Other?", **row}])
    with pytest.raises(ConversionError, match=rf"labels.json: row 1.*: {problem}"):
        convert_a1pair(labels, tmp_path / "images", "dev", tmp_path / "data")


def test_the_same_question_on_the_same_pair_twice_and_a_missing_second_image_are_named(tmp_path):
    write_images(tmp_path / "images", NAMES)
    twice = write_labels(tmp_path / "twice.json", [GOOD, {**GOOD, "img_path": ["./a.png", "b.png"]}])
    with pytest.raises(ConversionError, match="row 1 .*question on this img_path pair already given in row 0"):
        convert_a1pair(twice, tmp_path / "images", "dev", tmp_path / "data")
    missing = write_labels(tmp_path / "missing.json", [GOOD, {**GOOD, "img_path": ["a.png", "gone.png"]}])
    with pytest.raises(ConversionError, match=r"row 1 \(gone.png\): .*--skip-bad"):
        convert_a1pair(missing, tmp_path / "images", "dev", tmp_path / "data")
    report = convert_a1pair(missing, tmp_path / "images", "dev", tmp_path / "data", skip_bad=True)
    assert report.written == 1 and "row 1 (gone.png)" in report.skipped[0]


def hub_layout(data: datasets.DatasetDict) -> datasets.DatasetDict:
    """The converted pairs as q-future/Q-Bench2-HF has them: no img_path column."""
    return data.remove_columns("img_path")


def expected_letter(doc):
    return doc["correct_choice"]


def test_the_hub_dataset_is_read_when_no_data_dir_and_gives_the_same_requests(demo_pairs, monkeypatch):
    hub = hub_layout(load_parquet_dataset(demo_pairs))
    original = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda path, *a, **k: hub if path == pairs.HUB_DATASET_ID
                        else original(path, *a, **k))
    via_hub = evaluate_scripted(expected_letter, "qbench2_a1_dev", {}, log_samples=True)
    assert via_hub["results"]["qbench2_a1_dev"]["acc,none"] == 1.0
    via_files = evaluate_scripted(expected_letter, "qbench2_a1_demo", {}, log_samples=True)
    contexts = lambda r, t: [s["arguments"][0][0] for s in r["samples"][t]]  # noqa: E731
    assert contexts(via_hub, "qbench2_a1_dev") == contexts(via_files, "qbench2_a1_demo")


def test_a_hub_layout_without_a_column_is_named(demo_pairs, monkeypatch):
    broken = load_parquet_dataset(demo_pairs).remove_columns(["img_path", "question_concern"])
    monkeypatch.setattr(datasets, "load_dataset", lambda path, *a, **k: broken)
    lacks = "q-future/Q-Bench2-HF \\(dev split\\) lacks the Q-Bench2 column\\(s\\) question_concern"
    with pytest.raises(ValueError, match=lacks):
        evaluate_scripted(expected_letter, "qbench2_a1_dev", {})


def test_accuracy_by_type_and_concern_category(demo_pairs):
    """Always answering "A": each category's accuracy is the share of its questions whose answer is
    A, counted here from the release-style questions the demo was converted from."""
    questions = demo_pair_questions(list(demo_items()))
    results = evaluate_scripted(lambda doc: "A", "qbench2_a1_demo", {})["results"]["qbench2_a1_demo"]

    def share(keep):
        kept = [q for q in questions if keep(q)]
        return sum(q["candidates"][0] == q["correct_ans"] for q in kept) / len(kept)

    assert results["acc,none"] == pytest.approx(share(lambda q: True))
    for code, name in {0: "yes_or_no", 1: "what", 2: "how"}.items():
        assert results[f"acc_{name},none"] == pytest.approx(share(lambda q: q["type"] == code))
    for category, codes in {"compare": (0, 1), "joint": (2, 3), "distortion": (0, 2), "other": (1, 3)}.items():
        assert results[f"acc_{category},none"] == pytest.approx(share(lambda q: q["concern"] in codes))
    assert results["unparsed_rate,none"] == 0.0


def swapped(folder, tmp_path):
    """The demo pairs with each question's two images in the other order."""
    rows = demo_pair_questions(list(demo_items()))
    for row in rows:
        row["img_path"].reverse()
    images = tmp_path / "images"
    images.mkdir()
    for item in demo_items():
        item.image.save(images / item.img_path)
    convert_a1pair(write_labels(tmp_path / "swapped.json", rows), images, "dev", tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("name", ["llava", "llava_next"])
def test_both_images_reach_the_model_in_order(name, family_model, tmp_path):
    """Every option's log-likelihood equals a direct forward with the two images in order; with
    the images swapped, the log-likelihoods follow the images (a forward with them swapped)."""
    path = family_model(name)
    limit = 8
    straight = run_lm_eval(["qbench2_a1_demo_mc"], path, batch_size=4, limit=limit, model_args="dtype=float64")
    data_dir = swapped(ensure_demo_pair_dataset(), tmp_path)
    turned = run_lm_eval(["qbench2_a1_dev_mc"], path, batch_size=4, limit=limit, model_args="dtype=float64",
                         metadata={"qbench_data_dir": str(data_dir)})
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float64).eval()
    processor = transformers.AutoProcessor.from_pretrained(path)
    compared = 0
    for a, b in zip(straight["samples"]["qbench2_a1_demo_mc"], turned["samples"]["qbench2_a1_dev_mc"]):
        first, second = [image.decode() for image in doc_to_lazy_image(a["doc"])]
        assert [image.name for image in doc_to_lazy_image(b["doc"])] == a["doc"]["img_path"][::-1]
        for (context, option, _), (ll_a, _), (ll_b, _) in zip(a["arguments"], a["filtered_resps"], b["filtered_resps"]):
            in_order = direct_loglikelihood(model, processor, context, option, [first, second], MARKERS[name])
            reversed_ = direct_loglikelihood(model, processor, context, option, [second, first], MARKERS[name])
            assert ll_a == pytest.approx(in_order, abs=1e-6)
            assert ll_b == pytest.approx(reversed_, abs=1e-6)
            compared += 1
        assert not all(math.isclose(x[0], y[0]) for x, y in zip(a["filtered_resps"], b["filtered_resps"]))
    assert compared >= 2 * limit


def test_generation_decodes_the_images_one_chunk_at_a_time(tiny_model, monkeypatch):
    """Requests hold references until their chunk runs; the answers equal one-chunk generation."""
    from PIL import Image

    import model_wrappers.resumable_generation as generation

    seen = []
    real = generation._LM_EVAL_GENERATE_UNTIL

    def recording(lm, requests, disable_tqdm=False):
        seen.append([type(image) for r in requests for image in r.args[2]["visual"]])
        return real(lm, requests, disable_tqdm=disable_tqdm)

    monkeypatch.setattr(generation, "_LM_EVAL_GENERATE_UNTIL", recording)
    whole = run_lm_eval(["qbench2_a1_demo"], tiny_model, batch_size=4, limit=10)
    monkeypatch.setattr(generation, "RESUME_CHUNK", 3)
    seen.clear()
    chunked = run_lm_eval(["qbench2_a1_demo"], tiny_model, batch_size=4, limit=10)
    assert [len(types) for types in seen] == [6, 6, 6, 2]  # 3 requests of 2 images, then 1
    assert all(kind is Image.Image for types in seen for kind in types)
    answers = lambda r: [s["filtered_resps"][0] for s in r["samples"]["qbench2_a1_demo"]]  # noqa: E731
    assert answers(chunked) == answers(whole) and len(answers(whole)) == 10


def test_the_submission_export_names_both_images(demo_pairs):
    results = evaluate_scripted(lambda doc: "B", "qbench2_a1_demo", {}, log_samples=True, limit=5)
    rows = a1_submission(json.loads(json.dumps(results["samples"]["qbench2_a1_demo"], default=str)))
    questions = demo_pair_questions(list(demo_items()))[:5]
    assert [row["img_path"] for row in rows] == [q["img_path"] for q in questions]
    assert [row["pred_ans"] for row in rows] == [q["candidates"][1] for q in questions]
    assert [row["correct_ans"] for row in rows] == [q["correct_ans"] for q in questions]
