"""IQA baselines as lm-eval models: NIQE (invariants of the published algorithm, behaviour on
graded distortions) and CLIP-IQA (equal to a direct computation), A3 only."""

import lm_eval
import numpy as np
import pytest
import torch
import transformers
from lm_eval.tasks import TaskManager
from PIL import Image
from scipy import stats

import model_wrappers  # noqa: F401 - registers niqe and clip-iqa
from conftest import sample_scores
from model_wrappers.niqe import NIQEUndefined, luminance, niqe, niqe_features
from qbench_tasks import TASKS_DIR
from qbench_tasks.demo_data import DEMO_SEVERITIES, DEMO_SOURCES, distort, load_source_photo
from qbench_tasks.lazy_images import detach_images, doc_to_lazy_image
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


def test_niqe_reads_luminance_only(photos):
    colour = photos["coffee.png"]
    grey = Image.fromarray(np.clip(np.rint(luminance(colour)), 0, 255).astype(np.uint8)).convert("RGB")
    assert niqe(grey) == pytest.approx(niqe(colour), abs=0.05)  # only the 8-bit rounding differs


def test_niqe_uses_whole_96_pixel_patches_and_ignores_the_rest(photos):
    image = photos["chelsea.png"]  # 577 x 384: 6 x 4 patches, 1 column left over
    features = niqe_features(image)
    assert features.shape == (4 * 6, 36)
    pixels = np.asarray(image).copy()
    pixels[:, 576:] = 0  # beyond the last whole patch
    assert niqe(Image.fromarray(pixels)) == niqe(image)
    pixels[:, 575] = 0  # inside it
    assert niqe(Image.fromarray(pixels)) != niqe(image)


def test_niqe_refuses_an_image_smaller_than_a_patch():
    with pytest.raises(NIQEUndefined, match="at least 96x96 pixels; the image is 120x80"):
        niqe(Image.new("RGB", (120, 80), (90, 90, 90)))


def test_niqe_ranks_graded_distortions_of_each_photo(photos):
    """Noise ladders rank in order (SRCC >= 0.8 for every photo); every blurred version scores
    worse than its photo. (Between blur levels NIQE plateaus; the README gives the figures.)"""
    for name, photo in photos.items():
        reference = niqe(photo)
        noise = [reference] + [niqe(distort(photo, "noise", s, seed=1)) for s in DEMO_SEVERITIES]
        assert stats.spearmanr(range(5), noise).statistic >= 0.8, name
        blur = [niqe(distort(photo, "blur", s)) for s in DEMO_SEVERITIES]
        assert min(blur) > reference, name


def test_niqe_runs_as_a_model_and_refuses_other_requests(tiny_model):
    out = evaluate("niqe", "", ["qbench_a3_demo"])
    scores = sample_scores(out, "qbench_a3_demo")
    assert len(scores) == 91 and all(0 < s < 0.5 for s in scores.values())  # sigmoid(-NIQE / 100)
    assert np.isfinite(out["results"]["qbench_a3_demo"]["srcc,none"])
    with pytest.raises(ValueError, match="A3 tasks .* only; qbench_a1_demo asks for generated text"):
        evaluate("niqe", "", ["qbench_a1_demo"], limit=2)


@pytest.fixture(scope="module")
def clip_model():
    from model_wrappers.fixture_models import cached_fixture

    return cached_fixture("clip")


def test_clip_iqa_equals_the_direct_softmax(clip_model, demo_dataset_dir):
    from qbench_tasks.hf_dataset import load_parquet_dataset

    out = evaluate("clip-iqa", f"pretrained={clip_model},batch_size=8,device=cpu", ["qbench_a3_demo"])
    harness = sample_scores(out, "qbench_a3_demo")
    model = transformers.CLIPModel.from_pretrained(clip_model).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(clip_model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(clip_model)
    text = tokenizer(list(CLIP_IQA_PROMPTS), padding=True, return_tensors="pt")
    docs = detach_images(load_parquet_dataset(demo_dataset_dir))["test"]
    direct = {}
    for doc in docs:
        pixels = processor(images=[doc_to_lazy_image(doc)[0].decode()], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            logits = model(**text, pixel_values=pixels).logits_per_image[0]
        direct[doc["img_path"]] = float(torch.softmax(logits, dim=0)[0])
    assert harness.keys() == direct.keys()
    assert max(abs(harness[k] - direct[k]) for k in direct) < 1e-6
    assert len({round(v, 6) for v in direct.values()}) > 50  # images differ: pairing is tested
