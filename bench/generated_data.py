"""Generated A3 databases for the benchmark scripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from qbench_tasks.a3.convert import convert_a3


def make_database(folder: Path, n: int, size: tuple[int, int] = (1024, 768)) -> Path:
    """n distinct JPEGs (smooth random content; KonIQ's 1024x768 by default, ~100 kB each)
    converted as KonIQ into ``folder/data``; returns that data directory."""
    images = folder / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
        Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(images / f"{i:06d}.jpg", quality=90)
    labels = folder / "koniq.json"
    labels.write_text(json.dumps([{"img_path": f"{i:06d}.jpg", "gt_score": float(i % 97)} for i in range(n)]))
    convert_a3("koniq", labels, images, folder / "data")
    return folder / "data"
