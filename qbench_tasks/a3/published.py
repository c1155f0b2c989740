"""The Q-Bench paper's published A3 results, for ``qbench report --paper``.

Transcribed from the Q-Bench README's table "IQA databases official results" (Q-Future/Q-Bench at
f19783e, 2024-08-12; the paper's Table 5): SRCC/PLCC per database, in this package's database
order (``databases.A3_DATABASES``). The NIQE row was not computed on these label files: it appears
to follow pyiqa's test splits and mixes the column order, so this package's ``niqe`` model is not
expected to reproduce it.
"""

from __future__ import annotations

SOURCE = "Q-Bench README, \"IQA databases official results\" (Q-Future/Q-Bench @ f19783e)"

# model -> one (SRCC, PLCC) per database: koniq, spaq, livefb, liveitw, cgiqa6k, agiqa3k, kadid10k.
PUBLISHED_A3: dict[str, tuple[tuple[float, float], ...]] = {
    "NIQE": ((0.316, 0.377), (0.669, 0.693), (0.211, 0.288), (0.480, 0.451), (0.075, 0.056), (0.562, 0.517), (0.374, 0.428)),
    "CLIP-ViT-Large-14": ((0.468, 0.505), (0.385, 0.389), (0.218, 0.237), (0.307, 0.308), (0.285, 0.290), (0.436, 0.458), (0.376, 0.388)),
    "Shikra (Vicuna-7B)": ((0.314, 0.307), (0.327, 0.337), (0.237, 0.241), (0.322, 0.336), (0.198, 0.201), (0.640, 0.661), (0.324, 0.332)),
    "LLaVA-v1 (Vicuna-13B)": ((0.462, 0.457), (0.442, 0.462), (0.264, 0.280), (0.404, 0.417), (0.208, 0.237), (0.626, 0.684), (0.349, 0.372)),
    "MiniGPT-4 (Vicuna-13B)": ((0.239, 0.257), (0.238, 0.253), (0.170, 0.183), (0.339, 0.340), (0.252, 0.246), (0.572, 0.591), (0.239, 0.233)),
    "Kosmos-2": ((0.255, 0.281), (0.644, 0.641), (0.196, 0.195), (0.358, 0.368), (0.210, 0.225), (0.489, 0.491), (0.359, 0.365)),
    "LLaMA-Adapter-V2": ((0.354, 0.363), (0.464, 0.506), (0.275, 0.329), (0.298, 0.360), (0.257, 0.271), (0.604, 0.666), (0.412, 0.425)),
    "InstructBLIP (Flan-T5-XL)": ((0.334, 0.362), (0.582, 0.599), (0.248, 0.267), (0.113, 0.113), (0.167, 0.188), (0.378, 0.400), (0.211, 0.179)),
    "InstructBLIP (Vicuna-7B)": ((0.359, 0.437), (0.683, 0.689), (0.200, 0.283), (0.253, 0.367), (0.263, 0.304), (0.629, 0.663), (0.337, 0.382)),
    "Otter-v1 (MPT-7B)": ((0.406, 0.406), (0.436, 0.441), (0.143, 0.142), (-0.008, 0.018), (0.254, 0.264), (0.475, 0.481), (0.557, 0.577)),
    "IDEFICS-Instruct (LLaMA-7B)": ((0.375, 0.400), (0.474, 0.484), (0.235, 0.240), (0.409, 0.428), (0.244, 0.227), (0.562, 0.622), (0.370, 0.373)),
    "mPLUG-Owl (LLaMA-7B)": ((0.409, 0.427), (0.634, 0.644), (0.241, 0.271), (0.437, 0.487), (0.148, 0.180), (0.687, 0.711), (0.466, 0.486)),
}
