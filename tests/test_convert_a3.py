import json
import math
import re

import datasets
import pytest
import yaml
from PIL import Image

from qbench_tasks import cli
from qbench_tasks.a3.convert import A3_FEATURES, a3_card, convert_a3, read_a3_labels
from qbench_tasks.a3.databases import A3_DATABASES
from qbench_tasks.data.conversion import ConversionError, with_image_hashes

OFFICIAL_FILES = {db.name: db.official_labels for db in A3_DATABASES.values() if db.name != "livefb"}


def write_images(folder, names):
    """A small image per name, format from its extension, sizes varying with the index."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (16 + i % 5, 12 + i % 3), (i % 256, 40, 90)).save(folder / name)


def load(folder, tmp_path):
    """What a user gets from ``load_dataset(DIR)``; a fresh cache, as datasets 5.x caches local
    folders by name only (see hf_dataset.load_parquet_dataset)."""
    return datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))["test"]


def data_folder_names(data):
    """What a data directory holds, less the writers' lock files (kept: deleting a lock file
    another writer may hold open is the classic race)."""
    return sorted(p.name for p in data.iterdir() if not p.name.endswith(".lock"))


def write_labels(path, rows):
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("database", sorted(OFFICIAL_FILES))
def test_official_label_files_convert_and_load(database, official_a3_labels, tmp_path):
    rows = json.loads((official_a3_labels / OFFICIAL_FILES[database]).read_text())
    sample = rows[:: max(1, len(rows) // 40)]
    labels = write_labels(tmp_path / "labels.json", sample)  # raw values kept: strings stay strings
    write_images(tmp_path / "images", [row["img_path"] for row in sample])

    report = convert_a3(database, labels, tmp_path / "images", tmp_path / "data")

    assert report.written == len(sample) and report.skipped == []
    loaded = load(tmp_path / "data" / database, tmp_path)
    assert loaded.features == with_image_hashes(A3_FEATURES)
    assert loaded["img_path"] == [row["img_path"] for row in sample]
    assert loaded["mos"] == [float(row["gt_score"]) for row in sample]
    assert loaded[1]["image"].size == (16 + 1 % 5, 12 + 1 % 3)


def test_cgiqa_label_file_orders_game_then_movie_with_padded_string_scores(official_a3_labels):
    raw = json.loads((official_a3_labels / "cgi.json").read_text())
    parsed = read_a3_labels(official_a3_labels / "cgi.json")
    assert len(parsed) == 6000
    assert all(row["img_path"].startswith("game_") for row in parsed[:3000])
    assert all(row["img_path"].startswith("movie_") for row in parsed[3000:])
    assert all(isinstance(row["mos"], float) for row in parsed)
    assert [row["mos"] for row in parsed] == [float(str(row["gt_score"]).strip()) for row in raw]


@pytest.fixture
def small_set(tmp_path):
    names = ["a.jpg", "b.png", "c.bmp", "d.jpg"]
    write_images(tmp_path / "images", names)
    labels = write_labels(
        tmp_path / "labels.json", [{"img_path": n, "gt_score": f"{i + 1.5} "} for i, n in enumerate(names)]
    )
    return labels, tmp_path / "images"


def corrupt(kind, path):
    if kind == "missing":
        path.unlink()
    elif kind == "text":
        path.write_text("not an image at all")
    elif kind == "truncated":
        Image.new("RGB", (256, 256), (200, 10, 10)).save(path, quality=95)
        path.write_bytes(path.read_bytes()[:400])
    elif kind == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "empty"])
def test_bad_image_stops_with_row_and_file_named(kind, small_set, tmp_path):
    labels, images = small_set
    corrupt(kind, images / "d.jpg")
    with pytest.raises(ConversionError) as err:
        convert_a3("koniq", labels, images, tmp_path / "data")
    message = str(err.value)
    assert "row 3 (d.jpg)" in message and str(images / "d.jpg") in message and "--skip-bad" in message
    assert not (tmp_path / "data" / "koniq").exists()


def test_skip_bad_skips_and_counts_only_the_bad_rows(small_set, tmp_path):
    labels, images = small_set
    corrupt("truncated", images / "a.jpg")
    corrupt("missing", images / "c.bmp")
    report = convert_a3("spaq", labels, images, tmp_path / "data", skip_bad=True)
    assert report.written == 2 and len(report.skipped) == 2
    assert "row 0 (a.jpg)" in report.skipped[0] and "row 2 (c.bmp)" in report.skipped[1]
    loaded = load(tmp_path / "data" / "spaq", tmp_path)
    assert loaded["img_path"] == ["b.png", "d.jpg"] and loaded["mos"] == [2.5, 4.5]


@pytest.mark.parametrize(
    "content,expected",
    [
        ("", "not a JSON file"),
        ("{not json", "not a JSON file"),
        (json.dumps({"img_path": "a.jpg", "gt_score": 1}), "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        (json.dumps([{"img_path": "a.jpg"}]), r"row 0 \(a.jpg\): no 'gt_score'"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": "abc"}]), r"row 0 \(a.jpg\): gt_score 'abc' is not a number"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": None}]), "gt_score None is not a number"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": "NaN"}]), "not a finite number"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": "inf"}]), r"gt_score 'inf' is not a finite number"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": [3]}]), r"gt_score \[3\] is not a number"),
        (json.dumps([{"img_path": "a.jpg", "gt_score": 1}, {"img_path": "a.jpg", "gt_score": 2}]),
         r"row 1 \(a.jpg\): img_path already given in row 0"),
        (json.dumps([{"gt_score": 1}]), "row 0: expected an object with a string 'img_path'"),
    ],
)
def test_malformed_labels_name_the_file_and_row(content, expected, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(content)
    write_images(tmp_path / "images", ["a.jpg"])
    with pytest.raises(ConversionError, match=expected) as err:
        convert_a3("kadid10k", labels, tmp_path / "images", tmp_path / "data")
    assert str(labels) in str(err.value)


def test_failed_conversion_keeps_the_previous_dataset(small_set, tmp_path):
    labels, images = small_set
    convert_a3("agiqa3k", labels, images, tmp_path / "data")
    before = sorted(p.name for p in (tmp_path / "data" / "agiqa3k" / "data").iterdir())
    corrupt("text", images / "d.jpg")
    with pytest.raises(ConversionError):
        convert_a3("agiqa3k", labels, images, tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data" / "agiqa3k" / "data").iterdir()) == before
    assert load(tmp_path / "data" / "agiqa3k", tmp_path).num_rows == 4
    assert data_folder_names(tmp_path / "data") == ["agiqa3k"]  # no temp leftovers


def test_card_on_disk_is_the_shipped_template_with_matching_header(small_set, tmp_path):
    labels, images = small_set
    report = convert_a3("liveitw", labels, images, tmp_path / "data")
    card = (report.out_dir / "README.md").read_text()
    assert card == a3_card(A3_DATABASES["liveitw"], 4)
    header = yaml.safe_load(card.split("---")[1])
    assert header["configs"][0]["data_files"] == [{"split": "test", "path": "data/test-*"}]
    assert [f["name"] for f in header["dataset_info"]["features"]] == list(with_image_hashes(A3_FEATURES))
    assert "LIVE-itw" in card and "4 images" in card


def test_cli_convert_reports_skips(small_set, tmp_path, capsys):
    labels, images = small_set
    corrupt("empty", images / "b.png")
    cli.main(["convert", "a3", "--database", "cgiqa6k", "--labels", str(labels),
              "--images", str(images), "--out", str(tmp_path / "data"), "--skip-bad"])
    out = capsys.readouterr()
    assert "wrote 3 rows" in out.out and "skipped 1" in out.out and "row 1 (b.png)" in out.err
    with pytest.raises(SystemExit, match="row 1 \\(b.png\\)"):
        cli.main(["convert", "a3", "--database", "cgiqa6k", "--labels", str(labels),
                  "--images", str(images), "--out", str(tmp_path / "data")])


def test_mos_stays_float(small_set, tmp_path):
    labels, images = small_set
    convert_a3("koniq", labels, images, tmp_path / "data")
    mos = load(tmp_path / "data" / "koniq", tmp_path)["mos"]
    assert all(isinstance(m, float) and not math.isnan(m) for m in mos)


def test_tasks_read_a_reconverted_dataset_fresh(small_set, tmp_path):
    from qbench_tasks.data.parquet import load_parquet_dataset

    labels, images = small_set
    report = convert_a3("koniq", labels, images, tmp_path / "data")
    assert load_parquet_dataset(report.out_dir)["test"].num_rows == 4
    rows = json.loads(labels.read_text())[:2]
    write_labels(labels, rows)
    convert_a3("koniq", labels, images, tmp_path / "data")
    assert load_parquet_dataset(report.out_dir)["test"]["img_path"] == ["a.jpg", "b.png"]


def test_interrupted_conversion_leaves_the_previous_dataset(small_set, tmp_path, monkeypatch):
    """Ctrl-C (or a kill) halfway through: the old dataset stays whole and no temp folder stays."""
    import qbench_tasks.data.conversion as convert

    labels, images = small_set
    convert_a3("agiqa3k", labels, images, tmp_path / "data")
    real_read = convert.read_rgb
    seen = []

    def interrupted(path, draft=None):
        seen.append(path)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real_read(path, draft)

    monkeypatch.setattr(convert, "read_rgb", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_a3("agiqa3k", labels, images, tmp_path / "data")
    assert load(tmp_path / "data" / "agiqa3k", tmp_path).num_rows == 4
    assert data_folder_names(tmp_path / "data") == ["agiqa3k"]


@pytest.mark.parametrize("where", ["../outside.png", "ABSOLUTE", "link.png"])
def test_img_path_leaving_the_images_folder_is_refused_unless_allowed(where, tmp_path):
    write_images(tmp_path / "images", ["inside.png", "inside2.png"])
    write_images(tmp_path, ["outside.png"])
    if where == "link.png":
        (tmp_path / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    img_path = str(tmp_path / "outside.png") if where == "ABSOLUTE" else where
    labels = write_labels(tmp_path / "labels.json", [{"img_path": "inside.png", "gt_score": 1.0},
                                                     {"img_path": img_path, "gt_score": 2.0},
                                                     {"img_path": "inside2.png", "gt_score": 3.0}])
    leads_out = f"row 1 \\({re.escape(img_path)}\\): img_path leads outside the images folder"
    with pytest.raises(ConversionError, match=leads_out):
        convert_a3("koniq", labels, tmp_path / "images", tmp_path / "data")
    report = convert_a3("koniq", labels, tmp_path / "images", tmp_path / "data", allow_outside_images=True)
    assert report.written == 3


def test_the_same_image_spelled_twice_and_boolean_scores_are_refused(tmp_path):
    write_images(tmp_path / "images", ["a.png"])
    twice = write_labels(tmp_path / "twice.json",
                         [{"img_path": "a.png", "gt_score": 1}, {"img_path": "./a.png", "gt_score": 2}])
    with pytest.raises(ConversionError, match=r"row 1 \(\./a\.png\): img_path already given in row 0"):
        read_a3_labels(twice)
    boolean = write_labels(tmp_path / "bool.json", [{"img_path": "a.png", "gt_score": True}])
    with pytest.raises(ConversionError, match="gt_score True is not a number"):
        read_a3_labels(boolean)


@pytest.mark.parametrize("score", ["1_000", "0x1A", "1e3_0", " 2.5 x"])
def test_a_mos_only_python_reads_as_a_number_is_refused(score, small_set, tmp_path):
    """float() takes "1_000" as 1000.0; a label file's MOS is a plain decimal number or refused."""
    labels, images = small_set
    rows = json.loads(labels.read_text())
    rows[2]["gt_score"] = score
    write_labels(labels, rows)
    with pytest.raises(ConversionError, match=rf"row 2 \(c.bmp\): gt_score '{score}' is not a number"):
        convert_a3("koniq", labels, images, tmp_path / "data")


def test_skip_bad_that_skips_every_row_says_nothing_is_left(small_set, tmp_path):
    labels, images = small_set
    convert_a3("koniq", labels, images, tmp_path / "data")
    for name in ("a.jpg", "b.png", "c.bmp", "d.jpg"):
        corrupt("text", images / name)
    with pytest.raises(ConversionError, match=r"labels.json: all 4 rows were skipped \(the first: .*row 0 \(a.jpg\)"
                                              r".*nothing is left to convert"):
        convert_a3("koniq", labels, images, tmp_path / "data", skip_bad=True)
    assert len(load(tmp_path / "data" / "koniq", tmp_path)["mos"]) == 4  # the earlier dataset is kept
