"""Hugging Face dataset cards for every dataset ``qbench convert`` writes.

Installed as ``qbench_tasks.data_cards``; the converter renders these templates into each
dataset's README.md, so the card that ships and the card on disk are the same text.
"""

from __future__ import annotations

from importlib import resources
from string import Template


def render_card(template: str, **fields: object) -> str:
    """Fill ``$field`` placeholders of card ``template`` (a file name in this folder)."""
    text = resources.files(__name__).joinpath(template).read_text(encoding="utf-8")
    return Template(text).substitute(**fields)
