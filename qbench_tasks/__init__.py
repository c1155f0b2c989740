"""Q-Bench task configurations for lm-evaluation-harness.

This package's folder is the harness ``--include_path`` (``qbench tasks-dir`` prints it).
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
