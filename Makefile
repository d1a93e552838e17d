# opsnb: run `make help` for the targets.
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
OPSNB := $(VENV)/bin/opsnb

.PHONY: help setup demo test lint lab clean bench gallery

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

setup: ## create .venv, install opsnb, register the 'opsnb' Jupyter kernel
	@bash scripts/setup.sh

demo: setup ## set up, generate the demo shop, run every notebook on params/demo*.yaml into outputs/
	$(OPSNB) demo

test: setup ## set up, lint, check the layers, then run the whole test suite (what CI runs)
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q -p no:cacheprovider -n auto --maxprocesses=4 --dist loadgroup tests --doctest-modules opsnb
	@# nbval's cells share one kernel, so they run in one serial process of their own, after the
	@# parallel run (a parallel run once lost the parameters cell's variables); the tests'
	@# conftest (as a plugin) gives them the session's demo store
	$(PY) -m pytest -q -p no:cacheprovider -p tests.conftest notebooks/02b_whatif_live.ipynb --nbval-lax

lint: setup ## ruff (rules and format) and the import-linter layer contracts
	$(VENV)/bin/ruff check opsnb tests benchmarks
	$(VENV)/bin/ruff format --check opsnb tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

lab: setup ## open JupyterLab on notebooks/ with the project's kernel (on the demo store until you import your own data)
	@if [ -f data/opsnb.duckdb ]; then store=data/opsnb.duckdb; else \
	  test -f data/demo.duckdb || $(OPSNB) demo --data-only; store=data/demo.duckdb; \
	  echo "==> no data/opsnb.duckdb yet: notebooks read the demo shop ($$store)"; fi; \
	OPSNB_DB=$${OPSNB_DB:-$$PWD/$$store} $(VENV)/bin/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: setup ## run the benchmarks in benchmarks/ (slow; on demand)
	@for b in benchmarks/bench_*.py; do [ $$b = benchmarks/bench_cli.py ] && continue; echo "== $$b"; $(PY) $$b || exit 1; done
	@for w in detect ab rfm load; do echo "== benchmarks/bench_cli.py $$w"; $(PY) benchmarks/bench_cli.py $$w || exit 1; done

gallery: setup ## screenshots of demo reports for the README into docs/gallery/ (skipped without Chromium)
	$(PY) docs/gallery/shoot.py

clean: ## remove generated outputs and the demo store (keeps .venv)
	rm -rf outputs/*/ outputs/index.html data/
