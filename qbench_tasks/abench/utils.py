"""Task glue the A-Bench YAMLs reference as ``!function qbench_tasks.abench.utils.<name>`` (one module instance).

A-Bench asks A1's kind of question (one image, 2-4 lettered options; the prompt the A-Bench
authors suggest is A1's default), so its tasks use A1's prompt, answer extraction, judge matching
and scoring, with A-Bench's breakdown by category (``abench.breakdown``).
"""

from functools import partial

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a1.judge import A1_JUDGE_FIELD, a1_judge_spec
from qbench_tasks.a1.scoring import process_generation, process_multiple_choice
from qbench_tasks.abench import abench
from qbench_tasks.data.lazy_images import detach_images, load_detached
from qbench_tasks.data.location import configured_data_dir, converted_dataset_path, hub_dataset, require_split
from qbench_tasks.data.parquet import with_constant_columns
from qbench_tasks.demo.data import ensure_demo_abench_dataset
from qbench_tasks.prompts import a1_prompt_fields
from qbench_tasks.settings import read_settings

# Loading a Q-Bench task is the moment to let plain --model hf-multimodal score images (the
# multiple-choice task asks for log-likelihoods): see model_wrappers.hf_multimodal_loglik.
install_lm_eval_hooks()

CONVERT_COMMAND = (
    "qbench convert abench --labels Abench.json --images <the images of imgs.zip> --out DATA_DIR   "
    "(the test split, for prediction; with --answers KEY.json, the scored dev split)"
)

process_results = partial(process_generation, breakdown=abench.breakdown)
process_results_mc = partial(process_multiple_choice, breakdown=abench.breakdown)


# What gives a split that a source lacks.
SPLIT_HINTS = {
    "test": "the release's Abench.json converts into it: qbench convert abench --labels Abench.json --images "
            "<the images of imgs.zip> --out DATA_DIR (no --answers)",
    "dev": f"the hub's {abench.HUB_DATASET_ID} has it (configure no data directory), or convert the release with "
           "an answer key (--answers KEY.json)",
}


def load_abench(demo: bool = False, split: str | None = None, **metadata):
    """``custom_dataset``: the converted release when a data directory is configured, else the
    hub's ``q-future/A-Bench-HF`` (its columns checked); the demo set when ``demo``. The run's
    prompt style and A1 judge go into every document; ``split`` (the task's, from its
    ``dataset_kwargs``) must be there."""
    settings = read_settings(metadata)
    spec = a1_judge_spec(settings)
    fields = {**a1_prompt_fields(settings), A1_JUDGE_FIELD: spec.to_json() if spec else ""}
    path = None
    if demo:
        path = ensure_demo_abench_dataset()
    elif configured_data_dir(settings) is not None:
        path = converted_dataset_path("abench", abench.IDENTITY, configured_data_dir(settings), CONVERT_COMMAND)
    if path is not None:
        return require_split(load_detached(path, fields), split, "abench", str(path), SPLIT_HINTS.get(split, ""))
    data = hub_dataset("abench", abench.HUB_DATASET_ID, CONVERT_COMMAND)
    require_split(data, split, "abench", abench.HUB_DATASET_ID, SPLIT_HINTS.get(split, ""))
    for split, ds in data.items():
        abench.check_columns(ds.column_names, abench.HUB_DATASET_ID, split)
    return detach_images(with_constant_columns(data, fields))
