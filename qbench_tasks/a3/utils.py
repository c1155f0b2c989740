"""Task glue the A3 YAMLs reference as ``!function qbench_tasks.a3.utils.<name>`` (one module instance)."""

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a3.databases import get_database
from qbench_tasks.data.lazy_images import JPEG_DRAFT_KEY, load_detached
from qbench_tasks.data.location import converted_dataset_path
from qbench_tasks.demo.data import DEMO_DATABASE, ensure_demo_a3_dataset
from qbench_tasks.prompts import a3_prompt_fields
from qbench_tasks.settings import read_settings

# lm-eval builds the model before it loads tasks but asks it for log-likelihoods after, so
# loading a Q-Bench task is the moment to let plain --model hf-multimodal score images.
install_lm_eval_hooks()


def load_a3(database: str, **metadata):
    """``custom_dataset``: the converted database, with the run's A3 prompt in every document
    and the images left on disk until their batch (``qbench_tasks.data.lazy_images``).

    lm-eval passes ``--metadata`` (and the model args) as keyword arguments.
    """
    settings = read_settings(metadata)
    if database == DEMO_DATABASE.name:  # generated on first use rather than converted by hand
        path = ensure_demo_a3_dataset()
    else:
        db = get_database(database)
        path = converted_dataset_path(
            db.task,
            db.identity,
            settings,
            f"qbench convert a3 --database {db.name} --labels {db.official_labels} "
            f"--images <{db.title} images folder> --out DATA_DIR",
        )
    fields = {**a3_prompt_fields(settings), JPEG_DRAFT_KEY: settings["jpeg_draft"]}
    return load_detached(path, fields)
