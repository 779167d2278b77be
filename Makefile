# `make demo` and `make test` each build the environment from a fresh clone, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLES := $(filter-out examples/_load.py,$(wildcard examples/*.py)) $(wildcard examples/*.toml examples/*.json)

BENCH_STAMP := $(VENV)/.bench
# the math renderers the document tests load in headless Chromium, from npm, pinned
NPM_STAMP := $(VENV)/.npm
NPM_PACKAGES := mathjax@3.2.2 mathjax2@npm:mathjax@2.7.9 katex@0.16.11

.PHONY: demo test bench env clean

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
	$(PY) examples/vanishing.py
	$(PY) examples/dropout.py
	$(PY) examples/deep_batchnorm.py
	$(PY) examples/residual.py

test: $(STAMP) $(NPM_STAMP)
	$(PY) -m pytest -q

# without npm the renderer tests say what is missing (and fail where .ci/run requires tools)
$(NPM_STAMP): $(STAMP)
	if command -v npm >/dev/null; then \
	  npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund --silent $(NPM_PACKAGES) \
	  && touch $(NPM_STAMP); \
	else echo "npm is not installed: the MathJax and KaTeX rendering tests will say so"; fi

# per-epoch time against the peers and compile cost; refreshes the README's benchmark table
bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench.py --out benchmarks/RESULTS.md --readme README.md

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info
