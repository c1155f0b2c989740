"""A3 tasks through lm-eval: data lookup, prompt overrides, the group mean, the signal check."""

import json
import math
import os
import random
import re

import pytest
from conftest import run_lm_eval, sample_scores

from qbench_tasks.a3.convert import convert_a3
from qbench_tasks.a3.databases import A3_DATABASES
from qbench_tasks.data.location import MissingDatasetError
from qbench_tasks.demo.data import demo_items


def convert_demo_images_as(database, out, rows, tmp_path):
    """Convert (new img_path, image, MOS) rows as if they were ``database``'s release files."""
    images = tmp_path / f"{database}-images"
    images.mkdir()
    for img_path, image, _ in rows:
        image.save(images / img_path)
    labels = tmp_path / f"{database}.json"
    labels.write_text(json.dumps([{"img_path": p, "gt_score": f"{mos} "} for p, _, mos in rows]))
    convert_a3(database, labels, images, out)


@pytest.fixture(scope="module")
def demo_rows():
    return [(item.img_path, item.image, item.mos) for item in demo_items()]


def test_signal_model_tracks_mos_and_a_shuffled_pairing_does_not(signal_model, demo_rows, tmp_path):
    demo = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=8)["results"]["qbench_a3_demo"]
    assert demo["srcc,none"] > 0.8 and demo["plcc,none"] > 0.8

    # The same images with each one's MOS given to another: documents and images out of step.
    mos = [m for _, _, m in demo_rows]
    random.Random(0).shuffle(mos)
    shuffled = [(p, img, m) for (p, img, _), m in zip(demo_rows, mos)]
    convert_demo_images_as("koniq", tmp_path / "data", shuffled, tmp_path)
    results = run_lm_eval(["qbench_a3_koniq"], signal_model, batch_size=8,
                          metadata={"qbench_data_dir": str(tmp_path / "data")})
    assert abs(results["results"]["qbench_a3_koniq"]["srcc,none"]) < 0.3


def test_group_is_the_unweighted_mean_over_the_seven_databases(signal_model, demo_rows, tmp_path, monkeypatch):
    for k, db in enumerate(A3_DATABASES.values()):
        rows = demo_rows[k::4][: 8 + 3 * k]  # different images and sizes per database
        if db.name == "cgiqa6k":
            half = len(rows) // 2
            rows = [(("game_" if i < half else "movie_") + p, img, m) for i, (p, img, m) in enumerate(rows)]
        convert_demo_images_as(db.name, tmp_path / "data", rows, tmp_path)
    monkeypatch.setenv("QBENCH_DATA_DIR", str(tmp_path / "data"))  # the environment route

    results = run_lm_eval(["qbench_a3"], signal_model, batch_size=4)["results"]

    for metric in ("srcc,none", "plcc,none"):
        per_db = [results[db.task][metric] for db in A3_DATABASES.values()]
        assert results["qbench_a3"][metric] == pytest.approx(sum(per_db) / len(per_db))
    assert results["qbench_a3_koniq"]["sample_len"] != results["qbench_a3_kadid10k"]["sample_len"]


def test_prompt_and_words_are_overridable_by_metadata(tiny_model):
    metadata = {"a3_prompt": "How is the image?", "a3_answer_prefix": "The answer is",
                "a3_choice_words": ["high", "low"]}
    results = run_lm_eval(["qbench_a3_demo"], tiny_model, batch_size=4, metadata=metadata)
    sample = results["samples"]["qbench_a3_demo"][0]
    assert [a[:2] for a in sample["arguments"]] == [
        ("<image>How is the image? The answer is", " high"),
        ("<image>How is the image? The answer is", " low"),
    ]


def test_missing_data_names_the_fetch_and_convert_commands(tiny_model, tmp_path):
    """No data and no fetching (turned off; offline, as these tests run): the error says what to
    run. tests/test_fetch_a3.py runs the fetch itself."""
    with pytest.raises(MissingDatasetError, match=r"qbench_a3_spaq: no SPAQ data at \S+/data/spaq, and fetching is "
                                                  r"off \(the setting qbench_fetch is false\): run `qbench fetch a3 "
                                                  r"--database spaq --out \S+/data`,\nor convert files you have with\n"
                                                  r"  qbench convert a3 --database spaq --labels spaq.json"):
        run_lm_eval(["qbench_a3_spaq"], tiny_model, metadata={"qbench_fetch": False})
    with pytest.raises(MissingDatasetError, match=f"no SPAQ data at {tmp_path}/spaq; run `qbench fetch a3 --database "
                                                  f"spaq --out {tmp_path}` on a machine that is online "
                                                  r"\(cannot download \S+spaq.tar: HF_HUB_OFFLINE is set\)"):
        run_lm_eval(["qbench_a3_spaq"], tiny_model, metadata={"qbench_data_dir": str(tmp_path)})


def test_chat_template_prompt(signal_model):
    results = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=8, apply_chat_template=True)
    context = results["samples"]["qbench_a3_demo"][0]["arguments"][0][0]
    assert context == "USER: <image>\nRate the quality of the image. ASSISTANT: The quality of the image is"
    assert results["results"]["qbench_a3_demo"]["srcc,none"] > 0.8
    assert len(sample_scores(results, "qbench_a3_demo")) == 91


def test_requests_hold_image_references_not_decoded_images(demo_dataset_dir):
    """lm-eval builds every request up front: A3 requests must not each hold a decoded image."""
    from lm_eval.tasks import TaskManager

    from qbench_tasks import TASKS_DIR
    from qbench_tasks.data.lazy_images import LazyImage
    from qbench_tasks.data.parquet import load_parquet_dataset

    task = TaskManager(include_path=str(TASKS_DIR), include_defaults=False).load(["qbench_a3_demo"])["tasks"]
    (task,) = task.values()
    assert "image" not in task.dataset["test"].features
    task.build_all_requests(rank=0, world_size=1)
    visuals = [instance.args[2]["visual"] for instance in task.instances]
    assert all(len(v) == 1 and isinstance(v[0], LazyImage) for v in visuals)
    assert visuals[0] is visuals[1]  # both words of a document share one reference

    converted = load_parquet_dataset(demo_dataset_dir)["test"]
    for k in (0, 17, 90):
        lazy = visuals[2 * k][0]
        assert lazy.name == converted[k]["img_path"]
        assert lazy.decode().tobytes() == converted[k]["image"].tobytes()


def test_images_read_from_the_parquet_shards_match_the_dataset_rows(tmp_path, monkeypatch):
    """Documents point into their split's parquet shards (several shards, several row groups
    each); every document's image bytes are its own row's."""
    import qbench_tasks.data.parquet as hf_dataset
    from qbench_tasks.a3.convert import A3_FEATURES
    from qbench_tasks.data.lazy_images import doc_to_lazy_image, load_detached
    from qbench_tasks.data.parquet import split_shards, write_parquet_dataset

    monkeypatch.setattr(hf_dataset, "SHARD_MAX_ROWS", 130)  # 3 shards of up to 130 rows
    rows = [{"image": {"bytes": bytes([i % 251]) * (50 + i), "path": f"{i}.png"}, "img_path": f"{i}.png",
             "mos": float(i)}
            for i in range(300)]
    write_parquet_dataset(tmp_path / "db", "test", rows, A3_FEATURES, lambda counts: "card")
    shards = split_shards(tmp_path / "db")
    assert len(shards["test"]) == 3
    docs = load_detached(tmp_path / "db")["test"]
    assert "image" not in docs.column_names  # never loaded, so never copied into datasets' cache
    for doc in docs:
        lazy = doc_to_lazy_image(doc)[0]
        i = int(doc["img_path"].split(".")[0])
        assert lazy._images.cell(lazy._row)["bytes"] == rows[i]["image"]["bytes"]
    # An open shard keeps its last read's buffers: none may stay open once read.
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert not open_files & {os.path.realpath(shard) for shard in shards["test"]}


def test_lazy_images_survive_pickling(demo_dataset_dir):
    """lm-eval pickles requests between the processes of a data-parallel run."""
    import pickle

    from qbench_tasks.data.lazy_images import doc_to_lazy_image, load_detached

    docs = load_detached(demo_dataset_dir)["test"]
    lazy = doc_to_lazy_image(docs[5])[0]
    lazy.decode()  # files opened and a row group held: still picklable
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy.decode().tobytes() == lazy.decode().tobytes() and copy.name == lazy.name


def test_level_scores_from_the_same_forward_equal_a_direct_computation(tiny_model, monkeypatch):
    """Q-Align's levels (opt-in) beside the official score: the softmax over the five level words'
    log-likelihoods, weighted 1 / 0.75 / 0.5 / 0.25 / 0, computed here by hand from the logged
    log-likelihoods; no forward pass is added."""
    import model_wrappers.hf_multimodal_loglik as loglik_module

    forwards = []
    score_batch = loglik_module._score_batch
    monkeypatch.setattr(loglik_module, "_score_batch", lambda *a: forwards.append(1) or score_batch(*a))
    plain = run_lm_eval(["qbench_a3_demo"], tiny_model, batch_size=4, limit=12)
    plain_forwards, forwards[:] = len(forwards), []
    levels = run_lm_eval(["qbench_a3_demo"], tiny_model, batch_size=4, limit=12, metadata={"a3_levels": True})
    assert len(forwards) == plain_forwards == 3  # 12 images, batches of 4, with or without levels

    weights = {"excellent": 1.0, "good": 0.75, "fair": 0.5, "poor": 0.25, "bad": 0.0}
    for before, sample in zip(plain["samples"]["qbench_a3_demo"], levels["samples"]["qbench_a3_demo"]):
        pairs = zip(sample["arguments"], sample["filtered_resps"])
        loglik = {cont.strip(): value for (_, cont, _), (value, _) in pairs}
        total = sum(math.exp(loglik[w]) for w in weights)
        expected = sum(math.exp(loglik[w]) / total * weight for w, weight in weights.items())
        assert sample["srcc_levels"][0] == pytest.approx(expected, abs=1e-9)
        assert sample["srcc"] == pytest.approx(before["srcc"])  # the official score is unchanged
    results = levels["results"]["qbench_a3_demo"]
    assert {"srcc,none", "plcc,none", "srcc_levels,none", "plcc_levels,none"} <= set(results)
    assert "srcc_levels,none" not in plain["results"]["qbench_a3_demo"]


def test_level_words_and_weights_are_overridable_and_checked(tiny_model):
    two = run_lm_eval(["qbench_a3_demo"], tiny_model, limit=4, metadata={
        "a3_level_words": ["good", "poor"], "a3_level_weights": [1, 0]})["samples"]["qbench_a3_demo"]
    for sample in two:  # two levels weighted 1 / 0: the softmax weight of the first, at temperature 1
        (good, _), (poor, _) = sample["filtered_resps"]
        assert sample["srcc_levels"][0] == pytest.approx(1 / (1 + math.exp(poor - good)))
    for bad, message in (({"a3_levels": True, "a3_level_weights": [1, 0]}, "one number per word"),
                         ({"a3_level_weights": [1, 0]}, "true for a3_level_weights"),
                         ({"a3_levels": "yes"}, "must be true or false"),
                         ({"a3_level_words": ["good"], "a3_level_weights": [1]}, "2 or more distinct words")):
        with pytest.raises(ValueError, match=message):
            run_lm_eval(["qbench_a3_demo"], tiny_model, limit=2, metadata=bad)


def test_a_mistyped_setting_is_refused_naming_the_closest(tiny_model, demo_dataset_dir, monkeypatch):
    """A typo used to be ignored, and with QBENCH_DATA_DIR set the run scored that folder instead."""
    monkeypatch.setenv("QBENCH_DATA_DIR", str(demo_dataset_dir.parent))
    for typo, closest in (("qbench_datadir", "qbench_data_dir"), ("a3_choice_word", "a3_choice_words"),
                          ("judge_modle", "judge_model")):
        with pytest.raises(ValueError, match=f"'{typo}' is not a Q-Bench setting; did you mean '{closest}'"):
            run_lm_eval(["qbench_a3_demo"], tiny_model, limit=2, metadata={typo: "x"})


def test_the_documented_settings_table_is_the_declared_one():
    """docs/settings.md's table is ``settings_table()`` verbatim: a setting added, renamed or given
    another default in ``settings.py`` fails here until the docs say so too."""
    from conftest import REPO

    from qbench_tasks.settings import SETTINGS, settings_table

    page = (REPO / "docs" / "settings.md").read_text()
    assert settings_table() in page
    assert all(f"| `{name}` |" in settings_table() for name in SETTINGS)


def test_qbench_settings_prints_the_table(capsys):
    from qbench_tasks import cli
    from qbench_tasks.settings import settings_table

    cli.main(["settings"])
    assert capsys.readouterr().out == settings_table() + "\n"


@pytest.mark.parametrize("metadata, message", [
    ({"jpeg_draft": "yes"}, "jpeg_draft must be true or false, got 'yes'"),
    ({"a3_prompt": 5}, "a3_prompt must be a string"),
    ({"a3_choice_words": "good poor"}, "a3_choice_words must be a list of 2 distinct words"),
    ({"a3_choice_words": ["good", "good"]}, "a3_choice_words must be a list of 2 distinct words"),
    ({"a3_level_weights": [1, "x"], "a3_levels": True}, "a3_level_weights must be a list of numbers"),
    ({"qbench_data_dir": ""}, "qbench_data_dir must be a folder path"),
    ({"judge_model": "hf", "judge_timeout": 1.5}, "judge_timeout must be a whole number >= 1"),
    ({"judge_model": "hf", "judge_chat": "auto"}, "judge_chat must be true or false"),
    ({"judge_model": "hf", "judge_temperature": float("nan")}, "judge_temperature must be a number >= 0"),
])
def test_a_setting_of_the_wrong_type_is_named(metadata, message):
    """Every setting's type is checked by the one reader (a string "yes" for jpeg_draft used to
    be read as true)."""
    from qbench_tasks.judging.spec import JudgeSpec
    from qbench_tasks.settings import read_settings

    with pytest.raises(ValueError, match=re.escape(message)):
        JudgeSpec.from_settings(read_settings(metadata))


def test_a_wrongly_typed_setting_stops_the_run_at_task_load(tiny_model):
    with pytest.raises(ValueError, match="jpeg_draft must be true or false, got 'yes'"):
        run_lm_eval(["qbench_a3_demo"], tiny_model, limit=2, metadata={"jpeg_draft": "yes"})


def test_predict_only_writes_each_images_score_and_num_fewshot_leaves_qbench_zero_shot(signal_model):
    """--predict_only crashed every A3 task (lm-eval read the MOS as a choice index) and wrote
    nothing; --num_fewshot 1 crashed after the model loaded. Now the samples carry each image's
    score as a scored run's do, and Q-Bench tasks stay zero-shot (lm-eval ignores the flag for a
    task whose config sets num_fewshot 0, and logs so)."""
    scored = run_lm_eval(["qbench_a3_demo"], signal_model, limit=6)
    predicted = run_lm_eval(["qbench_a3_demo", "qbench_a1_demo_mc", "qbench_a1_demo"], signal_model, limit=6,
                            predict_only=True, num_fewshot=1)
    assert sample_scores(predicted, "qbench_a3_demo") == sample_scores(scored, "qbench_a3_demo")
    assert len(sample_scores(predicted, "qbench_a3_demo")) == 6
    assert predicted["n-shot"] == {"qbench_a1_demo": 0, "qbench_a1_demo_mc": 0, "qbench_a3_demo": 0}
    assert all(s["acc"] in (0.0, 1.0) for s in predicted["samples"]["qbench_a1_demo"])
