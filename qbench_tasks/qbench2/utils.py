"""Task glue the Q-Bench+ (image pair) YAMLs reference as ``!function qbench_tasks.qbench2.utils.<name>``
(one module instance)."""

from functools import partial

from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.scoring import process_generation, process_multiple_choice
from qbench_tasks.data.lazy_images import detach_images, load_detached
from qbench_tasks.data.location import configured_data_dir, converted_dataset_path, hub_dataset
from qbench_tasks.data.parquet import with_constant_columns
from qbench_tasks.demo.data import ensure_demo_pair_dataset
from qbench_tasks.prompts import a1_pair_images, a1_prompt, a1_prompt_fields
from qbench_tasks.qbench2.pairs import CONCERN_CATEGORIES, HUB_DATASET_ID, IDENTITY, IMAGE_COLUMNS, check_columns
from qbench_tasks.settings import read_settings

# Loading a Q-Bench task is the moment to let plain --model hf-multimodal score images and
# generate from images left on disk (see model_wrappers).
install_lm_eval_hooks()

CONVERT_COMMAND = (
    "qbench convert a1pair --labels <Q-Bench+ dev label file> --images <its images folder> "
    "--split dev --out DATA_DIR   (and the same with the test file and --split test)"
)

# The A1 scoring with Q-Bench+'s concern categories (compare / joint, distortion / other).
process_results = partial(process_generation, concerns=CONCERN_CATEGORIES)
process_results_mc = partial(process_multiple_choice, concerns=CONCERN_CATEGORIES)


def load_pairs(demo: bool = False, **metadata):
    """``custom_dataset``: the converted pairs when a data directory is configured, else the hub's
    ``q-future/Q-Bench2-HF``; the demo pairs when ``demo``. Both images of a question stay on
    disk until their batch; the run's prompt style goes into every document."""
    settings = read_settings(metadata)
    fields = a1_prompt_fields(settings)
    path = None
    if demo:
        path = ensure_demo_pair_dataset()
    elif configured_data_dir(settings) is not None:
        path = converted_dataset_path("qbench2_a1", IDENTITY, settings, CONVERT_COMMAND)
    if path is not None:
        return load_detached(path, fields, IMAGE_COLUMNS)
    data = hub_dataset("qbench2_a1", HUB_DATASET_ID, CONVERT_COMMAND)
    for split, ds in data.items():
        check_columns(ds.column_names, HUB_DATASET_ID, split)
    return detach_images(with_constant_columns(data, fields), IMAGE_COLUMNS)


def doc_to_text(doc: dict) -> str:
    question = question_of(doc)
    prompt = a1_prompt(question.question, question.options, doc["prompt_style"])
    return a1_pair_images(DEFAULT_IMAGE_PLACEHOLDER) + prompt


def doc_to_question(doc: dict) -> str:
    return a1_pair_images(DEFAULT_IMAGE_PLACEHOLDER) + question_of(doc).question
