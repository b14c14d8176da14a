# occpose_d2 developer commands. Every target sets up .venv first when needed.
PY := .venv/bin/python

.PHONY: setup test lint demo bench ablation

setup:
	bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(PY) -m ruff check occpose_d2 projects datasets scripts tests

demo: setup
	$(PY) projects/OccPose/run_synthetic_demo.py

bench: setup
	$(PY) scripts/benchmark.py

# The default sweep (all variants x seeds 0 1 2, 500 iterations each; about an hour on 2 cores).
ablation: setup
	$(PY) projects/OccPose/ablate.py --markdown benchmarks/ablation.md --json benchmarks/ablation.json
