# The two commands a newcomer runs: `make demo` and `make test` (lint, type check, then tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean links

# gridstudy/ (git-ignored): the installed layout made of links to the checkout (the namespace's
# __init__.py, grid/, models/, studies/), so that mypy, IDEs and editors resolve gridstudy.* from
# the repository root without an import hook.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[report,distributed,networks,bench,test,dynamics]'
	touch $(STAMP)

install: $(STAMP) links

links:
	mkdir -p gridstudy
	ln -sfn ../src/gridstudy/__init__.py gridstudy/__init__.py
	ln -sfn ../src/gridstudy/py.typed gridstudy/py.typed
	ln -sfn ../grid gridstudy/grid
	ln -sfn ../models gridstudy/models
	ln -sfn ../studies gridstudy/studies

demo: $(STAMP) links
	$(VENV)/bin/gridstudy sites
	$(VENV)/bin/gridstudy run examples/demo.toml --out out/demo

test: $(STAMP) links
	$(PY) -m ruff check .
	$(PY) -m mypy -p gridstudy
	sh scripts/ensure_browser.sh
	$(PY) -m pytest -n 2 --dist loadgroup -q

clean:
	rm -rf $(VENV) out .pytest_cache gridstudy
