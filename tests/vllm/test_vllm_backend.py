"""Q-Bench on lm-eval's ``vllm-vlm``: the same log-likelihoods and answers as ``hf-multimodal`` on
the same model (float32, within 1e-5), on one engine, on data-parallel replicas and, through a
plain ``lm_eval`` command, tensor parallel on a second family (Qwen2-VL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import run_lm_eval
from vllm_support import (  # noqa: F401 - fixtures
    ENGINE_ARGS,
    HF_ARGS,
    MC_TASKS,
    answers,
    assert_same_loglikelihoods,
    engine_model_args,
    fresh_vllm_lm,
    loglikelihoods,
    vllm_lm,
    vllm_model_dir,
)

from model_wrappers.hf_multimodal_loglik import continuation_token_ids, move_trailing_spaces


def hf_run(tasks, model_dir, **kwargs):
    return run_lm_eval(tasks, model_dir, model="hf-multimodal", batch_size=8, model_args=HF_ARGS, **kwargs)


def vllm_run(lm, tasks, **kwargs):
    return run_lm_eval(tasks, None, model=lm, **kwargs)


@pytest.fixture
def recorded(fresh_vllm_lm, monkeypatch):
    """Every prompt and sampling parameters the session's engine is given."""
    calls = []
    generate = fresh_vllm_lm.model.generate

    def recording(prompts, sampling_params=None, **kwargs):
        calls.append((list(prompts), list(sampling_params)))
        return generate(prompts, sampling_params=sampling_params, **kwargs)

    monkeypatch.setattr(fresh_vllm_lm.model, "generate", recording)
    return calls


def test_a3_reads_exactly_its_words_once_per_image_as_hf_multimodal_does(fresh_vllm_lm, recorded, vllm_model_dir):
    metadata = {"a3_levels": True}  # Q-Align's five level words as well as " good" / " poor"
    got = vllm_run(fresh_vllm_lm, ["qbench_a3_demo"], metadata=metadata)
    reference = hf_run(["qbench_a3_demo"], vllm_model_dir, metadata=metadata)
    assert_same_loglikelihoods(got, reference, "qbench_a3_demo")
    # A random model's scores barely spread, so its correlations amplify the log-likelihoods' 1e-6
    # differences (by 1.2e-6 with ATEN_CPU_CAPABILITY=default): the check is that the same scores reach the metric.
    for metric in ("srcc,none", "plcc,none", "srcc_levels,none", "plcc_levels,none"):
        assert got["results"]["qbench_a3_demo"][metric] == pytest.approx(
            reference["results"]["qbench_a3_demo"][metric], abs=1e-4)

    samples = got["samples"]["qbench_a3_demo"]
    requests = samples[0]["arguments"]  # a document's requests: one per word, on one context
    word_ids = sorted(continuation_token_ids(fresh_vllm_lm.tokenizer, *move_trailing_spaces(*r[:2]))[0]
                      for r in requests)
    assert len(set(word_ids)) == len(requests) >= 5
    prompts = [p for batch, _ in recorded for p in batch]
    params = [p for _, batch in recorded for p in batch]
    assert len(prompts) == len(samples)  # one prompt per image, every word read from it
    assert all(p.logprob_token_ids == word_ids and p.max_tokens == 1 and not p.logprobs for p in params)
    assert all(len(p["multi_modal_data"]["image"]) == 1 for p in prompts)


def test_multiple_choice_matches_hf_multimodal(fresh_vllm_lm, recorded, vllm_model_dir):
    got = vllm_run(fresh_vllm_lm, MC_TASKS)
    reference = hf_run(MC_TASKS, vllm_model_dir)
    for task in MC_TASKS:
        assert_same_loglikelihoods(got, reference, task)
        assert got["results"][task]["acc,none"] == reference["results"][task]["acc,none"]
    # Options of several tokens were read token by token after their earlier tokens, and the
    # Q-Bench+ questions carried both images.
    questions = sum(len(got["samples"][task]) for task in MC_TASKS)
    prompts = [p for batch, _ in recorded for p in batch]
    assert len(prompts) > questions
    assert {len(p["multi_modal_data"]["image"]) for p in prompts} == {1, 2}


def test_questions_run_chunk_by_chunk_with_the_same_results(fresh_vllm_lm, recorded, monkeypatch):
    """Images are decoded and handed to vLLM a chunk of questions at a time; chunks change nothing."""
    import model_wrappers.vllm_vlm as backend

    tasks = ["qbench_a3_demo", "qbench2_a1_demo_mc"]
    whole = vllm_run(fresh_vllm_lm, tasks, limit=12)
    recorded.clear()
    monkeypatch.setattr(backend, "QUESTIONS_PER_CHUNK", 5)
    chunked = vllm_run(fresh_vllm_lm, tasks, limit=12)
    for task in tasks:
        assert loglikelihoods(chunked, task) == loglikelihoods(whole, task)
    # Each call holds the images of at most 5 questions (a question's prompts share its image objects).
    images_per_call = [len({id(image) for p in prompts for image in p["multi_modal_data"]["image"]})
                       for prompts, _ in recorded]
    assert max(images_per_call) <= 5 * 2 and len(recorded) >= 5  # 24 questions: 5 chunks or more calls


def test_a_qbench_task_and_a_text_task_in_one_run(fresh_vllm_lm, vllm_model_dir, text_task_dir):
    tasks = ["qbench_a1_demo_mc", "qbench_test_text_mc"]
    got = vllm_run(fresh_vllm_lm, tasks, extra_include=[text_task_dir], limit=8)
    reference = hf_run(tasks, vllm_model_dir, extra_include=[text_task_dir], limit=8)
    for task in tasks:
        assert_same_loglikelihoods(got, reference, task)


def test_generation_gives_hf_multimodals_greedy_answers(fresh_vllm_lm, vllm_model_dir):
    tasks = ["qbench_a1_demo", "qbench2_a1_demo"]  # Q-Bench+'s images stay on disk until their chunk
    got = vllm_run(fresh_vllm_lm, tasks, limit=8)
    reference = hf_run(tasks, vllm_model_dir, limit=8)
    # A random model stops mid-character at max_gen_toks now and then: transformers decodes the
    # half byte sequence as U+FFFD, vLLM's incremental detokenizer holds it back.
    whole = lambda results, task: {i: a.rstrip("\ufffd") for i, a in answers(results, task).items()}  # noqa: E731
    for task in tasks:
        assert whole(got, task) == whole(reference, task)
        assert all(whole(got, task).values())


def test_chat_template_prompts_match_hf_multimodal(fresh_vllm_lm, vllm_model_dir):
    tasks = ["qbench_a3_demo", "qbench_a1_demo_mc"]
    got = vllm_run(fresh_vllm_lm, tasks, limit=10, apply_chat_template=True)
    reference = hf_run(tasks, vllm_model_dir, limit=10, apply_chat_template=True)
    assert got["samples"]["qbench_a3_demo"][0]["arguments"][0][0].startswith("USER: <image>")  # the template's
    for task in tasks:
        assert_same_loglikelihoods(got, reference, task)


def test_data_parallel_replicas_give_the_single_engines_results(fresh_vllm_lm, vllm_model_dir):
    import ray
    from lm_eval.models.vllm_vlms import VLLM_VLM

    tasks = ["qbench_a3_demo", "qbench_a1_demo_mc", "qbench_a1_demo"]
    single = vllm_run(fresh_vllm_lm, tasks, limit=6)
    replicated = VLLM_VLM(pretrained=str(vllm_model_dir), data_parallel_size=2, **ENGINE_ARGS)
    try:
        got = vllm_run(replicated, tasks, limit=6)
        assert len(replicated._qbench_replicas) == 2
        # Generation ran on the same replicas: lm-eval's own data-parallel path shuts Ray down after each call.
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    for task in tasks[:2]:
        assert_same_loglikelihoods(got, single, task)
    assert answers(got, "qbench_a1_demo") == answers(single, "qbench_a1_demo")


def test_plain_lm_eval_with_tensor_parallel_gives_hf_multimodals_loglikelihoods_on_qwen2_vl(session_dir, tmp_path):
    """``lm_eval --model vllm-vlm`` with no include path, the engine split over 2 CPU workers, on a
    second family: Qwen2-VL (M-RoPE positions, dynamic image sizes, its own image markup)."""
    import model_matrix

    model_dir = model_matrix.build("qwen2_vl", session_dir / "vllm-qwen2-vl", builders=model_matrix.VLLM_BUILDERS)
    tasks = ["qbench_a3_demo", "qbench_a1_demo_mc"]
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": "0|1"}  # one core per worker (vLLM's CPU binding)
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING")  # vLLM's default: the engine in a process of its own
    command = [str(Path(sys.executable).parent / "lm_eval"), "--model", "vllm-vlm",
               "--model_args", f"pretrained={model_dir},"
               + engine_model_args(tensor_parallel_size=2, max_model_len=2048),
               "--tasks", ",".join(tasks), "--limit", "8", "--apply_chat_template",
               "--output_path", str(tmp_path), "--log_samples"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = hf_run(tasks, model_dir, limit=8, apply_chat_template=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>" in reference["samples"][tasks[0]][0]["arguments"][0][0]
    for task in tasks:
        (samples_file,) = tmp_path.glob(f"*/samples_{task}_*.jsonl")
        logged = {"samples": {task: [json.loads(line) for line in samples_file.read_text().splitlines()]}}
        assert_same_loglikelihoods(logged, reference, task)


def test_an_encoder_decoder_model_is_refused_by_name():
    from model_wrappers.vllm_vlm import _questions

    lm = SimpleNamespace(_config=SimpleNamespace(is_encoder_decoder=True))
    with pytest.raises(ValueError, match="encoder-decoder.*--model hf-multimodal"):
        _questions(lm, [])

