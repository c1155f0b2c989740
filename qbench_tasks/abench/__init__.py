"""A-Bench: multiple-choice questions on AI-generated images (semantic understanding and quality perception)."""
