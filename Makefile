# The two commands a newcomer runs: `make demo` and `make test` (lint, type check, then tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[report,distributed,networks,bench,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gridstudy sites
	$(VENV)/bin/gridstudy run examples/demo.toml --out out/demo

test: $(STAMP)
	$(PY) -m ruff check .
	sh scripts/typecheck.sh $(PY)
	sh scripts/ensure_browser.sh
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) out .pytest_cache
