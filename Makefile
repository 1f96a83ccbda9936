# The two commands of the README. Both create .venv (Python 3.10, pinned lock)
# on first use; see scripts/ensure_venv.sh.
VENV_PYTHON := .venv/bin/python

.PHONY: venv venv-gpu test demo benchmarks

venv:
	@bash scripts/ensure_venv.sh

# The same .venv plus CUDA 12 for JAX (requirements/lock-py310-cuda12.txt);
# README "On a GPU". `make test` and `make demo` keep it.
venv-gpu:
	@bash scripts/ensure_venv.sh --gpu

test: venv
	$(VENV_PYTHON) -m pytest tests

demo: venv
	$(VENV_PYTHON) -m launchers.demo

benchmarks: venv
	$(VENV_PYTHON) -m benchmarks.learner_throughput
	$(VENV_PYTHON) -m benchmarks.loader_throughput
