"""Task glue the A2 YAMLs reference as ``!function qbench_tasks.a2.utils.<name>`` (one module instance)."""

from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a2.convert import LLDESCRIBE_IDENTITY
from qbench_tasks.a2.judge import JUDGE_FIELD
from qbench_tasks.data.lazy_images import load_detached
from qbench_tasks.data.location import configured_data_dir, converted_dataset_path
from qbench_tasks.demo import judge as demo_judge  # noqa: F401 - registers the demo task's judge with lm-eval
from qbench_tasks.demo.data import ensure_demo_a2_dataset
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import A2_PROMPT
from qbench_tasks.settings import read_settings

# Loading a Q-Bench task is the moment to make --use_cache resume image generation mid-way.
install_lm_eval_hooks()

CONVERT_COMMAND = (
    "qbench convert a2 --images <LLDescribe images folder> [--golden golden.json] --out DATA_DIR"
)


def load_lldescribe(demo: bool = False, default_judge: str | None = None, **metadata):
    """``custom_dataset``: the converted LLDescribe (or the demo set), with the run's judge
    (from --metadata; checked here, before any model call) in every document. ``default_judge``
    (a task's ``dataset_kwargs``) judges, asked once, where the run names none: the demo's rule judge."""
    settings = read_settings(metadata)
    spec = JudgeSpec.from_settings(settings)
    if spec is None and default_judge:
        spec = JudgeSpec(model=default_judge, rounds=1, retries=0)
    if demo:
        path = ensure_demo_a2_dataset()
    else:
        path = converted_dataset_path("qbench_a2", LLDESCRIBE_IDENTITY, configured_data_dir(settings),
                                      CONVERT_COMMAND)
    return load_detached(path, {JUDGE_FIELD: spec.to_json() if spec else ""})


def doc_to_text(doc: dict) -> str:
    return DEFAULT_IMAGE_PLACEHOLDER + A2_PROMPT


def doc_to_golden(doc: dict) -> str:
    return doc["golden_description"] or ""
