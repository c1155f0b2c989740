"""A2 (description): LLDescribe tasks, judging, scoring, conversion, export and `qbench judge`."""
