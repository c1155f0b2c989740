"""The Q-Bench submission protocol as an lm-eval model: same A3 scores and A1 answers as hf-multimodal."""

import lm_eval
import pytest
from conftest import run_lm_eval, sample_scores
from lm_eval.tasks import TaskManager

import model_wrappers  # noqa: F401 - registers qbench-protocol
from qbench_tasks import TASKS_DIR


def evaluate_protocol(signal_model, tasks, limit=None, module="fixture_protocol"):
    return lm_eval.simple_evaluate(
        model="qbench-protocol", model_args=f"module={module},pretrained={signal_model}",
        tasks=tasks, limit=limit, log_samples=True,
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
    )


def test_a3_scores_equal_the_hf_multimodal_ones(signal_model):
    protocol = sample_scores(evaluate_protocol(signal_model, ["qbench_a3_demo"]), "qbench_a3_demo")
    harness = sample_scores(run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=4), "qbench_a3_demo")
    assert protocol.keys() == harness.keys() and len(protocol) == 91
    assert max(abs(protocol[k] - harness[k]) for k in harness) < 1e-5


def test_generated_answers_equal_the_hf_multimodal_ones(signal_model):
    def answers(out):
        return {s["doc_id"]: s["resps"][0][0] for s in out["samples"]["qbench_a1_demo"]}

    protocol = answers(evaluate_protocol(signal_model, ["qbench_a1_demo"], limit=6))
    harness = answers(run_lm_eval(["qbench_a1_demo"], signal_model, batch_size=1, limit=6))
    assert protocol == harness and all(protocol.values())


def test_multi_token_continuations_and_missing_modules_are_refused(signal_model):
    with pytest.raises(ValueError, match="one-token continuations .* qbench_a1_demo_mc asks for"):
        evaluate_protocol(signal_model, ["qbench_a1_demo_mc"], limit=3)
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        evaluate_protocol(signal_model, ["qbench_a3_demo"], module="no_such_module")


def test_a_request_without_an_image_is_refused(signal_model):
    from lm_eval.api.instance import Instance

    from model_wrappers.qbench_protocol import QBenchProtocolLM

    lm = QBenchProtocolLM(module="fixture_protocol", pretrained=str(signal_model))
    text_only = Instance("loglikelihood", doc={}, arguments=("The sky is", " blue"), idx=0)
    with pytest.raises(ValueError, match="exactly one image per request; a task sent 0"):
        lm.loglikelihood([text_only])
