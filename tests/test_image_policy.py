"""Every kind of image file users bring, at conversion and at decode time (qbench_tasks.data.image_policy)."""

import io
import json
import struct
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data as sample_photos

from qbench_tasks.a3.convert import A3_FEATURES, convert_a3
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.data.image_policy import ImageRefused, open_rgb, read_rgb
from qbench_tasks.data.lazy_images import doc_to_lazy_image, load_detached
from qbench_tasks.data.parquet import split_shards, write_parquet_dataset


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def decompression_bomb() -> bytes:
    """A PNG whose header claims 30000 x 30000 pixels (8x Pillow's limit); no pixel data."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return encoded(Image.fromarray(noise), "JPEG", quality=95)[:1500]


def exif_rotated() -> bytes:
    """40 x 20, left half red, right half blue, tagged "rotate 90 degrees clockwise to view"."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(image, "JPEG", quality=95, exif=exif.tobytes())


def palette_with_transparency() -> bytes:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)  # index 0 black (transparent), 1 green
    image.paste(1, (0, 0, 8, 16))
    return encoded(image, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_grey() -> bytes:
    values = np.array([[0, 128 * 257, 65535, 1000]] * 8, dtype=np.uint16).repeat(4, axis=1)
    return encoded(Image.fromarray(values), "PNG")


REFUSED = {
    "zero bytes": (b"", "is empty"),
    "truncated JPEG": (truncated_jpeg(), "not a readable image"),
    "text named .jpg": (b"<html>404 Not Found</html>", "not a readable image"),
    "decompression bomb": (decompression_bomb(), "decompression bomb"),
    "1x1 image": (encoded(Image.new("RGB", (1, 1)), "PNG"), "1x1 pixels, below the 8-pixel minimum side"),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_refused_with_name_and_reason(kind):
    data, reason = REFUSED[kind]
    with pytest.raises(ImageRefused, match=reason) as err:
        open_rgb(data, "photos/x.jpg")
    assert "photos/x.jpg" in str(err.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ImageRefused, match=f"{tmp_path / 'gone.jpg'} is missing"):
        read_rgb(tmp_path / "gone.jpg")


def pixels(image):
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def test_cmyk_jpeg_becomes_its_rgb_colour():
    cmyk = Image.new("RGB", (32, 32), (200, 60, 30)).convert("CMYK")
    rgb = pixels(open_rgb(encoded(cmyk, "JPEG", quality=98), "cmyk.jpg"))
    assert np.abs(rgb - [200, 60, 30]).max() <= 4


def test_sixteen_bit_grey_is_scaled_not_clipped():
    rgb = pixels(open_rgb(sixteen_bit_grey(), "deep.png"))
    assert rgb[0, ::4, 0].tolist() == [0, 128, 255, 4]  # 1000 / 257 = 3.9
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_transparent_pixels_are_shown_over_white():
    rgb = pixels(open_rgb(palette_with_transparency(), "p.png"))
    assert rgb[0, 0].tolist() == [0, 200, 0] and rgb[0, 15].tolist() == [255, 255, 255]
    half_red = Image.new("RGBA", (16, 16), (255, 0, 0, 128))
    assert pixels(open_rgb(encoded(half_red, "PNG"), "a.png"))[0, 0].tolist() == [255, 127, 127]
    grey_alpha = Image.new("LA", (16, 16), (0, 0))
    assert pixels(open_rgb(encoded(grey_alpha, "PNG"), "la.png"))[0, 0].tolist() == [255, 255, 255]


def test_grey_becomes_three_equal_channels():
    rgb = pixels(open_rgb(encoded(Image.new("L", (16, 16), 77), "PNG"), "g.png"))
    assert rgb[3, 3].tolist() == [77, 77, 77]
    one_bit = Image.new("1", (16, 16), 1)
    assert pixels(open_rgb(encoded(one_bit, "PNG"), "b.png"))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    image = open_rgb(exif_rotated(), "rotated.jpg")
    assert image.size == (20, 40)
    rgb = pixels(image)
    assert rgb[5, 10].tolist() == pytest.approx([255, 0, 0], abs=30)  # the red half is on top
    assert rgb[35, 10].tolist() == pytest.approx([0, 0, 255], abs=30)


def test_animated_gif_gives_its_first_frame():
    assert pixels(open_rgb(animated_gif(), "anim.gif"))[8, 8].tolist() == [255, 0, 0]


def test_converter_refuses_each_bad_kind_by_row_and_converts_the_rest(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    files = {f"bad{i}.jpg": data for i, (data, _) in enumerate(REFUSED.values())}
    files.update({"rotated.jpg": exif_rotated(), "deep.png": sixteen_bit_grey(),
                  "anim.gif": animated_gif(), "p.png": palette_with_transparency()})
    for name, data in files.items():
        (images / name).write_bytes(data)
    names = [*files, "missing.jpg"]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"img_path": n, "gt_score": i} for i, n in enumerate(names)]))
    report = convert_a3("koniq", labels, images, tmp_path / "data", skip_bad=True)
    assert report.written == 4
    assert len(report.skipped) == len(REFUSED) + 1
    for i, (message, (_, reason)) in enumerate(zip(report.skipped, REFUSED.values())):
        assert f"row {i} (bad{i}.jpg)" in message and reason in message
    assert "missing.jpg" in report.skipped[-1] and "is missing" in report.skipped[-1]

    # At run time every image comes through the same policy, from the stored original bytes.
    docs = load_detached(tmp_path / "data" / "koniq")["test"]
    decoded = {doc["img_path"]: doc_to_lazy_image(doc)[0].decode() for doc in docs}
    assert decoded["rotated.jpg"].size == (20, 40)
    assert pixels(decoded["p.png"])[0, 15].tolist() == [255, 255, 255]
    assert pixels(decoded["deep.png"])[0, 4].tolist() == [128, 128, 128]


def test_an_image_that_went_bad_after_conversion_is_named_at_run_time(tmp_path):
    rows = [{"image": {"bytes": b"GIF89a-garbage", "path": "x.gif"}, "img_path": "x.gif", "mos": 1.0}]
    write_parquet_dataset(tmp_path / "db", "test", rows, A3_FEATURES, lambda counts: "card")
    (doc,) = load_detached(tmp_path / "db")["test"]
    with pytest.raises(ImageRefused, match="x.gif is not a readable image"):
        doc_to_lazy_image(doc)[0].decode()


def test_jpeg_draft_is_opt_in_and_keeps_the_processor_input_covered(tmp_path):
    """With the run's jpeg_draft flag a large JPEG decodes at the smallest DCT scale that still
    covers the requested size; without it, in full. PNGs are unaffected either way."""
    from qbench_tasks.data.lazy_images import JPEG_DRAFT_KEY

    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    rows = [{"image": {"bytes": encoded(photo, "JPEG", quality=90), "path": "big.jpg"}, "img_path": "big.jpg",
             "mos": 1.0},
            {"image": {"bytes": encoded(photo, "PNG"), "path": "big.png"}, "img_path": "big.png", "mos": 2.0}]
    write_parquet_dataset(tmp_path / "db", "test", rows, A3_FEATURES, lambda counts: "card")
    jpeg, png = load_detached(tmp_path / "db")["test"]
    assert doc_to_lazy_image(jpeg)[0].decode((128, 128)).size == (1024, 768)
    drafted = doc_to_lazy_image({**jpeg, JPEG_DRAFT_KEY: True})[0].decode((128, 128))
    assert drafted.size == (256, 192) and drafted.mode == "RGB"
    assert doc_to_lazy_image({**jpeg, JPEG_DRAFT_KEY: True})[0].decode((300, 300)).size == (512, 384)
    assert doc_to_lazy_image({**png, JPEG_DRAFT_KEY: True})[0].decode((128, 128)).size == (1024, 768)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nnewpath 0 0 moveto 16 16 lineto stroke\nshowpage\n"


def test_postscript_named_jpg_is_never_opened():
    """Pillow would run EPS/PS through Ghostscript: only raster formats are opened."""
    with pytest.raises(ImageRefused, match="photo.jpg is not a readable image in an allowed format"):
        open_rgb(EPS, "photo.jpg")


@pytest.mark.parametrize("size", [(30000, 10), (8, 200)])
def test_extreme_aspect_ratios_are_refused(size):
    data = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(data, format="PNG")
    with pytest.raises(ImageRefused, match="a side more than 20 times the other"):
        open_rgb(data.getvalue(), "strip.png")


def test_only_regular_files_are_read(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # reading it would block for ever
    for path in (fifo, "/dev/zero", tmp_path):
        with pytest.raises(ImageRefused, match="is not a regular file"):
            read_rgb(path)


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    import qbench_tasks.data.image_policy as policy

    monkeypatch.setattr(policy, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    with pytest.raises(ImageRefused, match="over the 100-byte limit"):
        read_rgb(path)


def photo_jpeg() -> bytes:
    return encoded(Image.fromarray(sample_photos.astronaut()), "JPEG", quality=90)


def flipped(data: bytes, count: int = 16, step: int = 97) -> bytes:
    """``data`` with ``count`` bytes inverted from a third of the way in (inside a JPEG's
    entropy-coded data)."""
    damaged = bytearray(data)
    for k in range(count):
        damaged[len(damaged) // 3 + k * step] ^= 0xFF
    return bytes(damaged)


def test_corrupt_jpeg_data_is_refused_at_conversion(tmp_path):
    """Pillow decodes a JPEG with 16 flipped bytes to damaged pixels without a word; libjpeg warns,
    and conversion refuses the file by row and name."""
    damaged = flipped(photo_jpeg())
    assert open_rgb(damaged, "damaged.jpg").size == (512, 512)  # what Pillow alone would accept
    images = tmp_path / "images"
    images.mkdir()
    files = {"a.jpg": photo_jpeg(), "damaged.jpg": damaged, "c.png": encoded(Image.new("RGB", (16, 16)), "PNG")}
    for name, data in files.items():
        (images / name).write_bytes(data)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"img_path": n, "gt_score": i} for i, n in enumerate(files)]))
    with pytest.raises(ConversionError, match=r"row 1 \(damaged.jpg\): image file .*damaged.jpg has corrupt JPEG data"):
        convert_a3("koniq", labels, images, tmp_path / "data")
    report = convert_a3("koniq", labels, images, tmp_path / "data", skip_bad=True)
    assert report.written == 2 and len(report.skipped) == 1 and "damaged.jpg" in report.skipped[0]


def test_bytes_changed_inside_a_converted_shard_are_refused_when_read(tmp_path):
    """Each image's SHA-256 is recorded at conversion: a 64-byte flip inside a shard (that still
    decodes) is named, with the shard, when the image is read; the other images are unaffected."""
    images = tmp_path / "images"
    images.mkdir()
    names = ["a.jpg", "b.jpg", "c.jpg"]
    for name, photo in zip(names, (sample_photos.astronaut(), sample_photos.chelsea(), sample_photos.coffee())):
        (images / name).write_bytes(encoded(Image.fromarray(photo), "JPEG", quality=90))
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"img_path": n, "gt_score": i} for i, n in enumerate(names)]))
    convert_a3("koniq", labels, images, tmp_path / "data")
    (shard,) = split_shards(tmp_path / "data" / "koniq")["test"]
    table = pq.read_table(shard)
    cells = table.column("image").to_pylist()
    cells[1]["bytes"] = flipped(cells[1]["bytes"], count=64, step=13)
    column = pa.array(cells, type=table.schema.field("image").type)
    pq.write_table(table.set_column(table.column_names.index("image"), "image", column), shard)
    assert open_rgb(cells[1]["bytes"], "b.jpg").size  # the damaged bytes still decode

    docs = load_detached(tmp_path / "data" / "koniq")["test"]
    decode = {doc["img_path"]: doc_to_lazy_image(doc)[0].decode for doc in docs}
    assert decode["a.jpg"]().size == (512, 512) and decode["c.jpg"]().size == (600, 400)
    with pytest.raises(ImageRefused, match=rf"image b.jpg in {shard}: its bytes are not those converted"):
        decode["b.jpg"]()


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiff_is_read_as_its_brightness(scale):
    """A 32-bit float TIFF stores 0...1 (or 0...255): either way, the same 8-bit picture."""
    grey = np.array([[0.0, 0.25, 0.5, 1.0]] * 8, dtype=np.float32).repeat(4, axis=1) * scale
    image = open_rgb(encoded(Image.fromarray(grey, mode="F"), "TIFF"), "float.tif")
    assert pixels(image)[0, ::4, 0].tolist() == [0, 64, 128, 255]


@pytest.mark.parametrize("value", [-0.5, 300.0, float("nan")])
def test_float_tiff_outside_both_ranges_is_refused(value):
    grey = np.full((8, 8), 0.5, dtype=np.float32)
    grey[0, 0] = value
    with pytest.raises(ImageRefused, match="odd.tif has float pixels from .*neither 0-1 nor 0-255"):
        open_rgb(encoded(Image.fromarray(grey, mode="F"), "TIFF"), "odd.tif")
