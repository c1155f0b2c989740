"""The multimodal log-likelihood: parity with the official A3 procedure, batching, grouping, hook."""

import pytest
import torch
import transformers
from conftest import run_lm_eval, sample_scores
from lm_eval.api.instance import Instance
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.models.huggingface import HFLM
from PIL import Image

from model_wrappers import hf_multimodal_loglik as hook_module
from model_wrappers.hf_multimodal_loglik import (
    HFMultimodalLoglikLM,
    install_hf_multimodal_loglikelihood_hook,
    installed_lm_eval_lacks_image_loglikelihood,
    loglikelihood_with_images,
)

# The context lm-eval builds for A3 without a chat template, written out independently of the
# task code, so that a drift in the prompt shows up here.
A3_CONTEXT = "<image>Rate the quality of the image. The quality of the image is"


def official_a3_scores(model_dir, docs):
    """The official Q-Bench A3 procedure, written directly: processor -> forward ->
    logits[0, -1] at the " good" / " poor" ids -> softmax of logits / 100."""
    processor = transformers.AutoProcessor.from_pretrained(model_dir)
    model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    good, poor = (processor.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (" good", " poor"))
    scores = {}
    for doc in docs:
        inputs = processor(text=A3_CONTEXT, images=doc["image"], return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        scores[doc["img_path"]] = float(torch.softmax(logits[[good, poor]] / 100, dim=0)[0])
    return scores


@pytest.fixture(scope="module")
def demo_docs(demo_dataset_dir):
    from qbench_tasks.data.parquet import load_parquet_dataset

    return load_parquet_dataset(demo_dataset_dir)["test"]


@pytest.mark.parametrize("fixture", ["tiny_model", "signal_model"])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_harness_equals_official_procedure(fixture, batch_size, demo_docs, request):
    model_dir = request.getfixturevalue(fixture)
    assert len({doc["image"].size for doc in demo_docs}) > 1  # batches mix image sizes
    official = official_a3_scores(model_dir, demo_docs)
    harness = sample_scores(run_lm_eval(["qbench_a3_demo"], model_dir, batch_size=batch_size), "qbench_a3_demo")
    assert harness.keys() == official.keys()
    assert max(abs(harness[k] - official[k]) for k in official) < 1e-5


@pytest.fixture(scope="module")
def lm(tiny_model):
    install_hf_multimodal_loglikelihood_hook()
    return HFMultimodalLoglikLM(pretrained=str(tiny_model), device="cpu", batch_size=3)


def image_request(context, continuation, visual):
    return Instance("loglikelihood", doc={}, arguments=(context, continuation, {"visual": visual}), idx=0)


def direct_loglikelihood(lm, context, continuation, image):
    """Sum of log-probabilities of the continuation's tokens after the expanded context."""
    inputs = lm.processor(text=context, images=[image], return_tensors="pt")
    context_ids = inputs["input_ids"][0]  # the image placeholder expanded into image tokens
    bare_context = lm.tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = lm.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    continuation_ids = torch.tensor(whole[len(bare_context):])
    ids = torch.cat([context_ids, continuation_ids])[None]
    with torch.no_grad():
        logits = lm.model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits[0]
    log_probs = torch.log_softmax(logits[len(context_ids) - 1 : -1], dim=-1)
    return float(log_probs.gather(1, continuation_ids[:, None]).sum())


def test_multi_token_continuations_and_shared_prefixes(lm):
    images = [Image.new("RGB", (70 + 10 * i, 50), (30 * i, 90, 160)) for i in range(3)]
    cases = [
        ("<image>Describe the image. The image is", " good", 0),
        ("<image>Describe the image. The image is", " good image", 0),
        ("<image>Describe the image. The image is", " good photo", 0),
        ("<image>Describe the image. The image is", " poor", 0),
        ("<image>Describe the image. The image is ", "poor", 1),  # trailing space moves over
        ("<image>Is there blur in the image?", " Yes, the blur is visible.", 2),
    ]
    visuals = [[img] for img in images]
    results = lm.loglikelihood([image_request(c, t, visuals[i]) for c, t, i in cases])
    for (context, continuation, i), (ll, _) in zip(cases, results):
        expected = direct_loglikelihood(lm, context.rstrip(), context[len(context.rstrip()):] + continuation, images[i])
        assert ll == pytest.approx(expected, abs=1e-4)


def test_one_forward_per_image_and_context(lm, monkeypatch):
    calls = []
    forward = lm.model.forward
    monkeypatch.setattr(lm.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    visuals = [[Image.new("RGB", (64, 64), (i * 40, 0, 0))] for i in range(5)]
    requests = [image_request(A3_CONTEXT, w, v) for v in visuals for w in (" good", " poor")]
    lm.loglikelihood(requests)
    assert len(calls) == 2  # 5 rows (one per image, both words) in batches of 3


def test_text_and_image_requests_in_one_call(lm):
    text = [Instance("loglikelihood", doc={}, arguments=("The quality of the image is", w), idx=0)
            for w in (" good", " poor")]
    image = [image_request(A3_CONTEXT, " good", [Image.new("RGB", (80, 64))])]
    mixed = lm.loglikelihood([text[0], image[0], text[1]])
    assert [mixed[0], mixed[2]] == HFLM.loglikelihood(lm, text)
    assert mixed[1] == lm.loglikelihood(image)[0]


def test_jpeg_draft_asks_for_the_processors_input_size(lm):
    # The fixture's processor: shortest edge 128, centre crop 128 x 128 (transformers' SizeDict).
    assert hook_module._processor_input_size(lm) == (128, 128)


def test_context_too_long_is_refused(lm, monkeypatch):
    monkeypatch.setattr(HFMultimodalLoglikLM, "max_length", property(lambda self: 40))
    with pytest.raises(ValueError, match="max_length 40"):
        lm.loglikelihood([image_request(A3_CONTEXT, " good", [Image.new("RGB", (64, 64))])])


def test_hook_is_in_place_for_lm_eval_0_4_13():
    assert installed_lm_eval_lacks_image_loglikelihood()
    assert install_hf_multimodal_loglikelihood_hook()
    assert HFMultimodalLM.loglikelihood is loglikelihood_with_images
    assert install_hf_multimodal_loglikelihood_hook()  # idempotent


def test_hook_steps_aside_when_lm_eval_implements_it(monkeypatch):
    def implemented(self, requests, disable_tqdm=False):
        return [(0.0, True) for _ in requests]

    monkeypatch.setattr(HFMultimodalLM, "loglikelihood", implemented)
    monkeypatch.setattr(hook_module, "_LM_EVAL_LOGLIKELIHOOD", implemented)
    assert not install_hf_multimodal_loglikelihood_hook()
    assert HFMultimodalLM.loglikelihood is implemented


def test_hook_is_version_gated(monkeypatch):
    from model_wrappers import lm_eval_hooks

    monkeypatch.setattr(lm_eval_hooks.importlib.metadata, "version", lambda name: "0.5.0")
    assert not installed_lm_eval_lacks_image_loglikelihood()


@pytest.mark.parametrize("fixture", ["tiny_model", "signal_model"])
def test_shared_prefix_cache_equals_a_full_forward_per_option(fixture, request, monkeypatch):
    """A1 multiple choice: options read from one cached image + question prefix score as a
    full forward per option does (to 1e-5 of the log-likelihoods' size)."""
    model_dir = request.getfixturevalue(fixture)
    real = hook_module._score_shared_prefix
    groups = []

    def counting(lm, rows, encoding):
        groups.append(len(rows))
        return real(lm, rows, encoding)

    monkeypatch.setattr(hook_module, "_score_shared_prefix", counting)

    def logliks(share):
        monkeypatch.setattr(hook_module, "SHARE_PREFIX_CACHE", share)
        out = run_lm_eval(["qbench_a1_demo_mc"], model_dir, batch_size=4)
        samples = sorted(out["samples"]["qbench_a1_demo_mc"], key=lambda s: s["doc_id"])
        return [float(resp[0][0]) for s in samples for resp in s["resps"]], out["results"]["qbench_a1_demo_mc"]

    shared, shared_metrics = logliks(True)
    assert groups and min(groups) >= 2  # questions with multi-token options took the cached path
    plain, plain_metrics = logliks(False)
    assert len(shared) == len(plain) > 91 * 2
    scale = max(1.0, max(abs(x) for x in plain))
    assert max(abs(a - b) for a, b in zip(shared, plain)) / scale < 1e-5
    assert shared_metrics == plain_metrics


def test_scoring_on_cpu_leaves_the_prefetch_threads_their_cores(lm, monkeypatch):
    """torch's threads are cut to the cores the prefetch threads leave while scoring runs, and
    given back after; the scores do not depend on it."""
    seen = []
    real = hook_module._score_batch

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    requests = [image_request(A3_CONTEXT, w, [Image.new("RGB", (64, 48), (90, 20, 200))]) for w in (" good", " poor")]
    monkeypatch.setattr(hook_module, "_score_batch", recording)
    monkeypatch.setattr(hook_module, "SHARE_PREFIX_CACHE", False)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        monkeypatch.setattr(hook_module.os, "sched_getaffinity", lambda pid: set(range(5)))
        five_cores = lm.loglikelihood(requests)
        monkeypatch.setattr(hook_module.os, "sched_getaffinity", lambda pid: set(range(2)))
        two_cores = lm.loglikelihood(requests)
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
    assert seen == [5 - hook_module.PREFETCH_BATCHES, 1]
    assert [ll for ll, _ in five_cores] == pytest.approx([ll for ll, _ in two_cores], abs=1e-5)
