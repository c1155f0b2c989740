# Two front-door targets: `make demo` (the main job, offline) and `make test`.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel
	# torch with the torchvision that Qwen2-VL, Qwen2.5-VL and SmolVLM processors need (their video
	# processor is built with the processor). torch 2.13.0's CPU wheel has no matching CPU torchvision
	# on the registry; these two CUDA builds (~5 GB) install and run on the CPU. A bare `torch`
	# requirement would pull whatever CUDA build is newest.
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/qbench demo

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests
