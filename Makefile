# The two commands a newcomer runs: `make demo` and `make test`.
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
	@for s in $$($(VENV)/bin/gridstudy sites --names); do \
		echo "== gridstudy check $$s"; \
		$(VENV)/bin/gridstudy check $$s --json out/demo/check-$$s.json || exit $$?; \
	done

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) out .pytest_cache
