"""Decoding large photos: full decode against reduced-scale JPEG decoding (``jpeg_draft``).

Generates 4000x3000 JPEGs, converts them, and for each image runs what the model wrapper runs
before the model — decode under the image policy, then the fixture model's image processor —
once with a full decode and once with ``jpeg_draft`` (Pillow's JPEG draft mode at the smallest
DCT scale that still covers the processor's input). Prints images/s for each, the ratio, and
the largest difference between the two model inputs, in pixel levels (0-255) after undoing
the processor's normalisation.

    python bench/decode.py --images 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import transformers
from generated_data import make_database

from qbench_tasks.data.lazy_images import JPEG_DRAFT_KEY, doc_to_lazy_image, load_detached
from qbench_tasks.demo.model import demo_model


def model_inputs(processor, docs, draft: bool) -> tuple[float, list[np.ndarray]]:
    size = processor.image_processor.size["shortest_edge"]
    started = time.perf_counter()
    inputs = []
    for doc in docs:
        image = doc_to_lazy_image({**doc, JPEG_DRAFT_KEY: draft})[0].decode((size, size))
        inputs.append(processor.image_processor(image, return_tensors="np")["pixel_values"][0])
    return time.perf_counter() - started, inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    processor = transformers.AutoProcessor.from_pretrained(demo_model())
    std = np.array(processor.image_processor.image_std)[:, None, None] * 255
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = make_database(Path(tmp), args.images, (4000, 3000))
        docs = list(load_detached(data_dir / "koniq")["test"])
        model_inputs(processor, docs[:2], False)  # warm-up
        full_seconds, full = model_inputs(processor, docs, draft=False)
        draft_seconds, drafted = model_inputs(processor, docs, draft=True)
    diff = max(float(np.abs((a - b) * std).max()) for a, b in zip(full, drafted))
    mean_diff = float(np.mean([np.abs((a - b) * std).mean() for a, b in zip(full, drafted)]))
    side = processor.image_processor.size["shortest_edge"]
    print(f"{args.images} JPEGs of 4000x3000 -> model input of shortest edge {side}, 1 thread")
    print(f"{'decode':<22} | {'images/s':>8} | {'vs full':>7}")
    print("-" * 44)
    print(f"{'full decode':<22} | {args.images / full_seconds:>8.1f} | {1:>6.2f}x")
    print(f"{'jpeg_draft':<22} | {args.images / draft_seconds:>8.1f} | {full_seconds / draft_seconds:>6.2f}x")
    print(f"model input difference, pixel levels: max {diff:.1f}, mean {mean_diff:.2f}")


if __name__ == "__main__":
    main()
