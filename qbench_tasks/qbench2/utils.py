"""Task glue the Q-Bench+ (image pair) YAMLs reference as ``!function qbench_tasks.qbench2.utils.<name>``
(one module instance)."""

from functools import partial

from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.scoring import by_type_and_concern, process_generation, process_multiple_choice
from qbench_tasks.data.lazy_images import SideBySide, detach_images, doc_to_lazy_image, load_detached
from qbench_tasks.data.location import configured_data_dir, converted_dataset_path, hub_dataset, require_split
from qbench_tasks.data.parquet import with_constant_columns
from qbench_tasks.demo.data import ensure_demo_pair_dataset
from qbench_tasks.prompts import a1_pair_images, a1_pair_side_by_side, a1_prompt, a1_prompt_fields
from qbench_tasks.qbench2.pairs import CONCERN_CATEGORIES, HUB_DATASET_ID, IDENTITY, IMAGE_COLUMNS, check_columns
from qbench_tasks.settings import read_settings

# Loading a Q-Bench task is the moment to let plain --model hf-multimodal score images and
# generate from images left on disk (see model_wrappers).
install_lm_eval_hooks()

CONVERT_COMMAND = (
    "qbench convert a1pair --labels q-bench2-a1-dev.jsonl --images <the release folder, holding all_single_images/> "
    "--split dev --out DATA_DIR   (and the same with q-bench2-a1-test.jsonl and --split test)"
)

# The A1 scoring with Q-Bench+'s concern categories (compare / joint, distortion / other).
process_results = partial(process_generation, breakdown=by_type_and_concern(CONCERN_CATEGORIES))
process_results_mc = partial(process_multiple_choice, breakdown=by_type_and_concern(CONCERN_CATEGORIES))


def load_pairs(demo: bool = False, split: str | None = None, **metadata):
    """``custom_dataset``: the converted pairs when a data directory is configured, else the hub's
    ``q-future/Q-Bench2-HF``; the demo pairs when ``demo``. Both images of a question stay on
    disk until their batch; the run's prompt style goes into every document; ``split`` (the task's,
    from its ``dataset_kwargs``) must be there."""
    settings = read_settings(metadata)
    fields = a1_prompt_fields(settings)
    path = None
    if demo:
        path = ensure_demo_pair_dataset()
    elif configured_data_dir(settings) is not None:
        path = converted_dataset_path("qbench2_a1", IDENTITY, configured_data_dir(settings), CONVERT_COMMAND)
    if path is not None:
        return require_split(load_detached(path, fields, IMAGE_COLUMNS), split, "qbench2_a1", str(path),
                             f"convert it with {CONVERT_COMMAND}")
    data = hub_dataset("qbench2_a1", HUB_DATASET_ID, CONVERT_COMMAND)
    require_split(data, split, "qbench2_a1", HUB_DATASET_ID, f"convert the release with {CONVERT_COMMAND}")
    for split, ds in data.items():
        check_columns(ds.column_names, HUB_DATASET_ID, split)
    return detach_images(with_constant_columns(data, fields), IMAGE_COLUMNS)


def _prompt(doc: dict) -> str:
    question = question_of(doc)
    return a1_prompt(question.question, question.options, doc["prompt_style"])


def doc_to_text(doc: dict) -> str:
    return a1_pair_images(DEFAULT_IMAGE_PLACEHOLDER) + _prompt(doc)


def doc_to_text_side_by_side(doc: dict) -> str:
    """The ``_concat`` variants: one image, the pair joined left to right (the paper's way for
    models that take one image)."""
    return a1_pair_side_by_side(DEFAULT_IMAGE_PLACEHOLDER) + _prompt(doc)


def doc_to_side_by_side_image(doc: dict) -> list[SideBySide]:
    return [SideBySide(doc_to_lazy_image(doc))]


def doc_to_question(doc: dict) -> str:
    return a1_pair_images(DEFAULT_IMAGE_PLACEHOLDER) + question_of(doc).question
