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
from qbench_tasks.data.conversion import ConversionError, with_image_hashes
from qbench_tasks.data.lazy_images import doc_to_lazy_image
from qbench_tasks.data.location import recorded_identity
from qbench_tasks.data.parquet import load_parquet_dataset
from qbench_tasks.demo.data import demo_items, demo_pair_questions, ensure_demo_pair_dataset
from qbench_tasks.qbench2 import pairs
from qbench_tasks.qbench2.convert import PAIR_FEATURES, convert_a1pair

# The release's layout (q-future/q-bench2): JSON Lines; img_path is ONE name, with a Windows
# separator, for the side-by-side image of two singles kept in all_single_images/. This name and
# the (type, concern, question) triples below are quoted from published rows
# (q-bench2-a1-dev.jsonl and the Q-Bench2-HF viewer); candidates and answers are made up.
PUBLISHED_PAIR = "llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg"
PUBLISHED_QUESTIONS = [
    (2, 0, "Compared to the first image, how is the clarity of the second image?", ("compare", "distortion")),
    (1, 0, "Which image has more severe overexposure?", ("compare", "distortion")),
    (0, 1, "Are both of these images very blurry?", ("joint", "distortion")),
    (1, 1, "Neither of the following two images has any distortion?", ("joint", "distortion")),
    (2, 2, "Compared to the first image, how real is the second image?", ("compare", "other")),
    (2, 2, "How does the composition of the second image compare to the first image?", ("compare", "other")),
]
SINGLES = ["00079.jpg", "09769.jpg", "00100.jpg"]
GOOD = {"type": 1, "concern": 0, "question": "Which image has more severe overexposure?", "img_path": PUBLISHED_PAIR,
        "candidates": ["The first image", "The second image"], "correct_ans": "The second image",
        "correct_choice": "B"}


@pytest.fixture(scope="module")
def demo_pairs():
    return ensure_demo_pair_dataset()


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def release_folder(tmp_path):
    """A release-shaped folder: the single images in all_single_images/."""
    write_images(tmp_path / "release" / pairs.SINGLES_FOLDER, SINGLES)
    return tmp_path / "release"


@pytest.mark.parametrize("type_, concern, question, categories", PUBLISHED_QUESTIONS)
def test_concern_codes_count_as_the_published_rows_read(type_, concern, question, categories):
    assert pairs.CONCERN_CATEGORIES[concern] == categories


def test_the_published_pair_name_stands_for_two_single_images():
    assert pairs.single_images(PUBLISHED_PAIR) == ("00079.jpg", "09769.jpg")
    assert pairs.single_images(pairs.pair_name("00079.jpg", "09769.jpg", "dev")) == ("00079.jpg", "09769.jpg")
    with pytest.raises(ValueError, match="not a release pair name"):
        pairs.single_images("llvisionqa_compare_dev\\00079.jpg")


def test_the_release_converts_as_published(tmp_path):
    """q-bench2-a1-dev.jsonl / -test.jsonl as published: both single images found, the published
    name kept (so the export writes what the authors expect), codes read as the rows mean them."""
    release = release_folder(tmp_path)
    other = "llvisionqa_compare_dev\\00100.jpg_cat_00079.jpg.jpg"
    dev = [{**GOOD, "type": type_, "concern": concern, "question": question,
            "img_path": PUBLISHED_PAIR if i % 2 == 0 else other}
           for i, (type_, concern, question, _) in enumerate(PUBLISHED_QUESTIONS)]
    test = [{k: v for k, v in row.items() if k not in ("correct_ans", "correct_choice")} for row in dev]
    convert_a1pair(write_jsonl(tmp_path / "q-bench2-a1-dev.jsonl", dev), release, "dev", tmp_path / "data")
    convert_a1pair(write_jsonl(tmp_path / "q-bench2-a1-test.jsonl", test), release, "test", tmp_path / "data")

    folder = tmp_path / "data" / pairs.DATASET_NAME
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert loaded["dev"].features == with_image_hashes(PAIR_FEATURES, pairs.IMAGE_COLUMNS)
    assert loaded["test"].num_rows == len(PUBLISHED_QUESTIONS)
    first, second = loaded["dev"][0], loaded["dev"][1]
    assert first["img_path"] == PUBLISHED_PAIR and second["img_path"] == other
    # write_images sizes images by their index in SINGLES: 00079 (16, 12), 09769 (17, 13), 00100 (18, 14)
    assert (first["image1"].size, first["image2"].size) == ((16, 12), (17, 13))
    assert (second["image1"].size, second["image2"].size) == ((18, 14), (16, 12))
    assert [first[f"option{i}"] for i in range(4)] == ["The first image", "The second image", "N/A", "N/A"]
    assert loaded["dev"]["correct_choice"] == ["B"] * len(PUBLISHED_QUESTIONS)
    assert loaded["test"]["correct_choice"] == [None] * len(PUBLISHED_QUESTIONS)
    assert loaded["dev"]["question_concern"] == [concern for _, concern, _, _ in PUBLISHED_QUESTIONS]
    assert recorded_identity(folder) == pairs.IDENTITY


def test_a_json_list_and_a_folder_of_singles_convert_too(tmp_path):
    release = release_folder(tmp_path)
    labels = write_labels(tmp_path / "dev.json", [GOOD])
    report = convert_a1pair(labels, release / pairs.SINGLES_FOLDER, "dev", tmp_path / "data")
    assert report.written == 1


@pytest.mark.parametrize("row, problem", [
    ({"img_path": "00079.jpg"}, "img_path '00079.jpg' is not a release pair name"),
    ({"img_path": ["00079.jpg", "09769.jpg"]}, "'img_path' missing or not a str"),
    ({"concern": 4}, r"unknown concern 4 \(expected one of \[0, 1, 2, 3\]\)"),
    ({"type": True}, "unknown type True"),
    ({"correct_ans": "The third image"}, "correct_ans 'The third image' is not among the candidates"),
    ({"candidates": ["Yes"], "correct_ans": "Yes"}, "1 candidates"),
    # The hub layout's padding text as a real option would vanish at task time (scored on the rest).
    ({"candidates": ["Yes", "No", "N/A"], "correct_ans": "Yes"},
     "candidate 'N/A' is the text the hub layout pads missing options with"),
])
def test_malformed_pair_rows_are_refused_with_row_named(row, problem, tmp_path):
    labels = write_jsonl(tmp_path / "labels.jsonl", [GOOD, {**GOOD, "question": "Other?", **row}])
    with pytest.raises(ConversionError, match=rf"labels.jsonl: row 1.*: {problem}"):
        convert_a1pair(labels, release_folder(tmp_path), "dev", tmp_path / "data")


def test_a_broken_line_and_a_missing_single_image_are_named(tmp_path):
    release = release_folder(tmp_path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:-5] + "\n")
    with pytest.raises(ConversionError, match=r"broken.jsonl: not a JSON file: line 2 is not JSON"):
        convert_a1pair(broken, release, "dev", tmp_path / "data")
    twice = write_jsonl(tmp_path / "twice.jsonl", [GOOD, GOOD])
    with pytest.raises(ConversionError, match="row 1 .*question on this img_path pair already given in row 0"):
        convert_a1pair(twice, release, "dev", tmp_path / "data")
    gone = {**GOOD, "img_path": "llvisionqa_compare_dev\\00079.jpg_cat_gone.jpg.jpg"}
    missing = write_jsonl(tmp_path / "missing.jsonl", [GOOD, gone])
    with pytest.raises(ConversionError, match=r"row 1 \(all_single_images/gone.jpg\): .*--skip-bad"):
        convert_a1pair(missing, release, "dev", tmp_path / "data")
    report = convert_a1pair(missing, release, "dev", tmp_path / "data", skip_bad=True)
    assert report.written == 1 and "row 1 (all_single_images/gone.jpg)" in report.skipped[0]


def expected_letter(doc):
    return doc["correct_choice"]


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
    for category, codes in {"compare": (0, 2), "joint": (1, 3), "distortion": (0, 1), "other": (2, 3)}.items():
        assert results[f"acc_{category},none"] == pytest.approx(share(lambda q: q["concern"] in codes))
    assert results["unparsed_rate,none"] == 0.0


def swapped(folder, tmp_path):
    """The demo pairs with each question's two images in the other order."""
    rows = demo_pair_questions(list(demo_items()))
    for row in rows:
        row["img_path"] = pairs.pair_name(*reversed(pairs.single_images(row["img_path"])), "dev")
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
        assert pairs.single_images(b["doc"]["img_path"]) == pairs.single_images(a["doc"]["img_path"])[::-1]
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
    real = generation._with_decoded_images

    def recording(chunk):  # what each chunk hands lm-eval's generate_until
        decoded_chunk = real(chunk)
        seen.append([type(image) for r in decoded_chunk for image in r.args[2]["visual"]])
        return decoded_chunk

    monkeypatch.setattr(generation, "_with_decoded_images", recording)
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


def test_the_hub_test_splits_placeholder_is_no_answer():
    """Q-Bench2-HF's test split carries correct_choice "@": no answer, not an error."""
    from qbench_tasks.a1.llvisionqa import question_of

    doc = {"id": "3", "question": "Are both images noisy?", "option0": "Yes", "option1": "No", "option2": "N/A",
           "option3": "N/A", "question_type": 0, "question_concern": 1, "correct_choice": "@"}
    assert question_of(doc).answer is None and question_of(doc).options == ("Yes", "No")


def test_the_side_by_side_variant_shows_one_joined_image(demo_pairs):
    """qbench2_a1_dev_concat: one image per question, the pair joined left to right at the lower
    height, with the same questions and scoring as qbench2_a1_dev."""
    from qbench_tasks.qbench2.utils import doc_to_side_by_side_image

    data_dir = {"qbench_data_dir": str(demo_pairs.parent)}
    results = evaluate_scripted(expected_letter, "qbench2_a1_dev_concat", data_dir, log_samples=True)
    assert results["results"]["qbench2_a1_dev_concat"]["acc,none"] == 1.0
    samples = results["samples"]["qbench2_a1_dev_concat"]
    assert all(s["arguments"][0][0].count("<image>") == 1 for s in samples)
    doc = load_parquet_dataset(demo_pairs)["dev"][0]
    first, second = (image.decode() for image in doc_to_lazy_image(samples[0]["doc"]))
    (joined,) = doc_to_side_by_side_image(samples[0]["doc"])
    height = min(first.height, second.height)
    assert joined.decode().size[1] == height
    left = joined.decode().crop((0, 0, round(first.width * height / first.height), height))
    assert left.size[0] > 0 and doc["img_path"] == samples[0]["doc"]["img_path"]
