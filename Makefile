# The two commands a new user needs: `make demo` (main job on the embedded default) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint install clean fusion-table

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/polymodal demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks recipes --select F,E9,B --ignore B008,B905

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

fusion-table: $(STAMP)
	$(BIN)/python benchmarks/fusion_table.py

clean:
	rm -rf $(VENV) demo
