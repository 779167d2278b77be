# `make demo` and `make test` each build the environment from a fresh clone, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLES := $(filter-out examples/_load.py,$(wildcard examples/*.py))

.PHONY: demo test env clean

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,examples]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/symbackprop compile $(EXAMPLES) -o generated/
	$(VENV)/bin/symbackprop check generated/*.py
	for format in tex md html; do \
	  $(VENV)/bin/symbackprop latex examples/circles.py --format $$format -o generated/circles.$$format; \
	done
	$(PY) examples/circles.py
	$(PY) examples/custom.py
	$(PY) examples/digits.py

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info
