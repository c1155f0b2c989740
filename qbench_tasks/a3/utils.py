"""Task glue the A3 YAMLs reference as ``!function qbench_tasks.a3.utils.<name>`` (one module instance)."""

import logging
from pathlib import Path

import filelock

from model_wrappers import install_lm_eval_hooks
from qbench_tasks.a3.databases import IQADatabase, get_database
from qbench_tasks.data.lazy_images import JPEG_DRAFT_KEY, load_detached
from qbench_tasks.data.location import MissingDatasetError, converted_dataset_path, fetched_data_dir
from qbench_tasks.demo.data import DEMO_DATABASE, ensure_demo_a3_dataset
from qbench_tasks.prompts import a3_prompt_fields
from qbench_tasks.settings import read_settings

log = logging.getLogger(__name__)

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
        path = a3_dataset_path(get_database(database), settings)
    fields = {**a3_prompt_fields(settings), JPEG_DRAFT_KEY: settings["jpeg_draft"]}
    return load_detached(path, fields)


def a3_dataset_path(db: IQADatabase, settings) -> Path:
    """The converted database; where it is missing, fetched first (``qbench fetch a3``), unless
    fetching is turned off or fails, when the error's first line says what to run."""
    from qbench_tasks.a3.fetch import fetch_a3, fetch_command, fetching_allowed

    data_dir = fetched_data_dir(settings)
    convert = (f"qbench convert a3 --database {db.name} --labels {db.official_labels} "
               f"--images <{db.title} images folder> --out DATA_DIR")
    try:
        return converted_dataset_path(db.task, db.identity, data_dir, convert)
    except MissingDatasetError:
        allowed, why_not = fetching_allowed(settings["qbench_fetch"])
        elsewise = f"or convert files you have with\n  {convert.replace('DATA_DIR', str(data_dir))}"
        if not allowed:
            raise MissingDatasetError(f"{db.task}: no {db.title} data at {data_dir / db.name}, and fetching is off "
                                      f"({why_not}): run `{fetch_command(db, data_dir)}`,\n{elsewise}") from None
    log.warning("%s: no %s data at %s: fetching it now (turn this off with --metadata "
                "'{\"qbench_fetch\": false}' or QBENCH_FETCH=0)", db.task, db.title, data_dir / db.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(data_dir / f".{db.name}.fetch-task.lock"):
        try:  # another process (a distributed run's other rank) may have fetched it meanwhile
            return converted_dataset_path(db.task, db.identity, data_dir, convert)
        except MissingDatasetError:
            pass
        try:
            fetch_a3(db, data_dir, say=lambda message: log.warning("%s: %s", db.task, message))
        except (OSError, ValueError) as err:
            raise MissingDatasetError(f"{db.task}: no {db.title} data at {data_dir / db.name}; run "
                                      f"`{fetch_command(db, data_dir)}` on a machine that is online ({err}),"
                                      f"\n{elsewise}") from None
    return converted_dataset_path(db.task, db.identity, data_dir, convert)
