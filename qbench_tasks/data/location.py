"""Where tasks find their converted data: the setting qbench_data_dir, else $QBENCH_DATA_DIR."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "QBENCH_DATA_DIR"
DATA_DIR_EXAMPLE = json.dumps({"qbench_data_dir": "DATA_DIR"})  # the --metadata that points tasks at it


IDENTITY_KEY = "qbench_dataset"  # dataset card header key recording what a converted folder holds


class DatasetProblem(Exception):
    """A task's data is missing, another's or damaged: the message says what to run, so an
    ``lm_eval`` run that ends on one prints the message alone (``model_wrappers.lm_eval_hooks``)."""


class MissingDatasetError(DatasetProblem, FileNotFoundError):
    """A task's converted dataset is not where the configuration points."""


class WrongDatasetError(DatasetProblem, ValueError):
    """The folder a task reads holds another dataset (e.g. LIVE-FB converted into ``koniq/``)."""


class CorruptDatasetError(DatasetProblem, ValueError):
    """A file of a converted dataset cannot be read (a cut or damaged shard, a card that is not
    text); the message names the file and says to convert again."""


def dataset_identity(benchmark: str, name: str) -> str:
    """What a converted dataset records itself to be: ``a3/koniq``, ``a1/llvisionqa``, ..."""
    return f"{benchmark}/{name}"


def recorded_identity(path: Path) -> str | None:
    """The identity in the card of the dataset at ``path``; None for a card without one."""
    card = path / "README.md"
    try:
        text = card.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CorruptDatasetError(f"{card}: the dataset card is not UTF-8 text ({err}); convert the dataset "
                                  "again") from None
    parts = text.split("---", 2) if text.startswith("---") else []
    try:
        header = yaml.safe_load(parts[1]) if len(parts) == 3 else None
    except yaml.YAMLError:
        header = None
    value = header.get(IDENTITY_KEY) if isinstance(header, dict) else None
    return value if isinstance(value, str) else None


def configured_data_dir(settings: Mapping) -> Path | None:
    """The run's data directory (``qbench_tasks.settings.RunSettings``), else $QBENCH_DATA_DIR's."""
    value = settings["qbench_data_dir"] or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def converted_dataset_path(task: str, identity: str, data_dir: Path | None, convert_command: str) -> Path:
    """``<data_dir>/<name>`` for ``identity`` ``<benchmark>/<name>``, checked to hold that
    converted dataset; ``convert_command`` (with DATA_DIR in it) says how to make it."""
    # Here, not at the top: the prompts import this module, and bench/gpu_a3.py runs where
    # `datasets` (which parquet needs) is not installed.
    from qbench_tasks.data.parquet import recover_interrupted

    name = identity.split("/", 1)[1]
    if data_dir is None:
        raise MissingDatasetError(
            f"{task}: no Q-Bench data directory is configured. Convert the data with\n"
            f"  {convert_command}\n"
            f"then pass --metadata '{DATA_DIR_EXAMPLE}' or set {DATA_DIR_ENV}=DATA_DIR."
        )
    path = data_dir / name
    command = convert_command.replace("DATA_DIR", str(data_dir))
    if not (path / "README.md").is_file() and not recover_interrupted(path):
        raise MissingDatasetError(f"{task}: no converted dataset at {path}. Create it with\n  {command}")
    held = recorded_identity(path)
    if held is None:
        logger.warning("%s: %s does not record which dataset it holds (converted by an earlier version); "
                       "re-run `%s` to record it", task, path, command)
    elif held != identity:
        raise WrongDatasetError(f"{task}: {path} holds the dataset {held}, not {identity}. Create {identity} with\n"
                                f"  {command}")
    return path


def cache_dir() -> Path:
    """Where built fixtures and the demo data live: ``$QBENCH_CACHE_DIR`` or ``~/.cache/qbench``."""
    return Path(os.environ.get("QBENCH_CACHE_DIR") or Path.home() / ".cache" / "qbench")


def fetched_data_dir(settings: Mapping) -> Path:
    """Where ``qbench fetch`` writes and the A3 tasks read: the configured data directory, else
    ``data/`` in the cache folder."""
    return configured_data_dir(settings) or cache_dir() / "data"


def require_split(data, split: str | None, task: str, source: str, how: str):
    """``data`` (a DatasetDict), refused with a MissingDatasetError naming what it has when it
    lacks the task's ``split`` (lm-eval itself would stop on a bare ``KeyError: 'test'``)."""
    if split is not None and split not in data:
        raise MissingDatasetError(f"{task}: {source} has no {split} split (it has: {', '.join(data) or 'none'}); {how}")
    return data


def hub_dataset(task: str, dataset_id: str, convert_command: str):
    """``datasets.load_dataset(dataset_id)`` for a task with no data directory configured; offline
    (or refused by the hub), an error saying what else works."""
    import datasets

    try:
        return datasets.load_dataset(dataset_id)
    except Exception as err:  # offline, or the hub refused: say what else works
        raise MissingDatasetError(
            f"{task}: no data directory is configured and {dataset_id} could not be "
            f"loaded from the hub ({type(err).__name__}: {err}). Convert the release files with\n"
            f"  {convert_command}\nthen pass --metadata '{DATA_DIR_EXAMPLE}'."
        ) from err
