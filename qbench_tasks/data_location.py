"""Where tasks find their converted data: --metadata qbench_data_dir, else $QBENCH_DATA_DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA_DIR_METADATA_KEY = "qbench_data_dir"
DATA_DIR_ENV = "QBENCH_DATA_DIR"


class MissingDatasetError(FileNotFoundError):
    """A task's converted dataset is not where the configuration points."""


def configured_data_dir(metadata: dict) -> Path | None:
    value = metadata.get(DATA_DIR_METADATA_KEY) or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def converted_dataset_path(task: str, name: str, metadata: dict, convert_command: str) -> Path:
    """``<data dir>/<name>``, checked to hold a converted dataset; ``convert_command`` (with
    DATA_DIR in it) says how to make it."""
    data_dir = configured_data_dir(metadata)
    if data_dir is None:
        example = json.dumps({DATA_DIR_METADATA_KEY: "DATA_DIR"})
        raise MissingDatasetError(
            f"{task}: no Q-Bench data directory is configured. Convert the data with\n"
            f"  {convert_command}\n"
            f"then pass --metadata '{example}' or set {DATA_DIR_ENV}=DATA_DIR."
        )
    path = data_dir / name
    if not (path / "README.md").is_file():
        raise MissingDatasetError(
            f"{task}: no converted dataset at {path}. Create it with\n"
            f"  {convert_command.replace('DATA_DIR', str(data_dir))}"
        )
    return path


def cache_dir() -> Path:
    """Where built fixtures and the demo data live: ``$QBENCH_CACHE_DIR`` or ``~/.cache/qbench``."""
    return Path(os.environ.get("QBENCH_CACHE_DIR") or Path.home() / ".cache" / "qbench")
