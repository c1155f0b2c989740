"""Task glue the A1 YAMLs reference as ``!function qbench_tasks.a1.utils.<name>`` (one module instance)."""

from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a1.judge import A1_JUDGE_FIELD, a1_judge_spec
from qbench_tasks.a1.llvisionqa import HUB_DATASET_ID, IDENTITY, question_of
from qbench_tasks.data.lazy_images import detach_images, load_detached
from qbench_tasks.data.location import configured_data_dir, converted_dataset_path, hub_dataset, require_split
from qbench_tasks.data.parquet import with_constant_columns
from qbench_tasks.demo.data import ensure_demo_a1_dataset
from qbench_tasks.prompts import a1_prompt, a1_prompt_fields
from qbench_tasks.settings import read_settings

# Loading a Q-Bench task is the moment to let plain --model hf-multimodal score images (the
# multiple-choice task asks for log-likelihoods): see model_wrappers.hf_multimodal_loglik.
install_lm_eval_hooks()

CONVERT_COMMAND = (
    "qbench convert a1 --labels llvisionqa_dev.json --images <LLVisionQA images folder> "
    "--split dev --out DATA_DIR   (and the same with llvisionqa_test.json --split test)"
)


def load_llvisionqa(demo: bool = False, split: str | None = None, **metadata):
    """``custom_dataset``: the converted LLVisionQA when a data directory is configured, else
    the hub's ``q-future/Q-Bench-HF``; the demo set when ``demo``. The run's prompt style goes
    into every document; ``split`` (the task's, from its ``dataset_kwargs``) must be there."""
    settings = read_settings(metadata)
    path = None
    if demo:
        path = ensure_demo_a1_dataset()
    elif configured_data_dir(settings) is not None:
        path = converted_dataset_path("qbench_a1", IDENTITY, configured_data_dir(settings), CONVERT_COMMAND)
    spec = a1_judge_spec(settings)
    fields = {**a1_prompt_fields(settings), A1_JUDGE_FIELD: spec.to_json() if spec else ""}
    if path is not None:
        return require_split(load_detached(path, fields), split, "qbench_a1", str(path),
                             f"convert it with {CONVERT_COMMAND}")
    data = hub_dataset("qbench_a1", HUB_DATASET_ID, CONVERT_COMMAND)
    require_split(data, split, "qbench_a1", HUB_DATASET_ID, f"convert the release with {CONVERT_COMMAND}")
    return detach_images(with_constant_columns(data, fields))


def doc_to_text(doc: dict) -> str:
    question = question_of(doc)
    return DEFAULT_IMAGE_PLACEHOLDER + a1_prompt(question.question, question.options, doc["prompt_style"])


def doc_to_question(doc: dict) -> str:
    return DEFAULT_IMAGE_PLACEHOLDER + question_of(doc).question
