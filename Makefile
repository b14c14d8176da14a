# occpose_d2 developer commands. Every target sets up .venv first when needed.
PY := .venv/bin/python
DATA ?= datasets/synthetic

.PHONY: setup test lint demo data bench

setup:
	bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(PY) -m ruff check occpose_d2 projects datasets scripts tests

data: setup
	$(PY) datasets/prepare_synthetic.py --out $(DATA) --seed 0 --num-train 600 --num-val 100

demo: setup
	bash scripts/demo.sh

bench: setup
	$(PY) scripts/benchmark.py
