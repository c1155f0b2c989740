"""A1 (perception): LLVisionQA tasks, answer extraction, judge-assisted matching, scoring, conversion and export."""
