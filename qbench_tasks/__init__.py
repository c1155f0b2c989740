"""Q-Bench task configurations for lm-evaluation-harness.

This package's folder is the harness ``--include_path`` (``qbench tasks-dir`` prints it).
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent

# The first word of every task and group name this distribution ships (qbench_a3_koniq, qbench2,
# abench_dev, ...).
NAMESPACES = ("qbench", "qbench2", "abench")


def is_qbench_name(name: str) -> bool:
    """Whether ``name`` is one of this distribution's tasks or groups."""
    return name.split("_", 1)[0] in NAMESPACES
