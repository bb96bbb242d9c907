# The two commands a new user needs: `make demo` (main job on the embedded default) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint install clean fusion-table temporal-fusion-table serve
# the browser tests drive Debian's chromium (Playwright's own browser download is not used)
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/polymodal demo --out demo

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium > /dev/null

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest

test-slow: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -m slow -p no:timeout

serve: $(STAMP)
	$(BIN)/polymodal serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks recipes --select F,E9,B,I --ignore B008,B905

fusion-table: $(STAMP)
	$(BIN)/python benchmarks/fusion_table.py

temporal-fusion-table: $(STAMP)
	$(BIN)/python benchmarks/temporal_fusion_table.py

clean:
	rm -rf $(VENV) demo
