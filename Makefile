# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The local CPU wheel; installed first so no dependency can pull the multi-GB CUDA build.
TORCH ?= torch==2.13.0
EXTRAS ?= dev,ray,postgres,nni
# nni 3.0 without its own pins (see pyproject.toml, extra `nni`); empty to leave it out.
NNI ?= nni==3.0
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: setup sysdeps demo test reference clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	$(if $(NNI),$(BIN)/pip install -q --no-deps "$(NNI)")
	touch $(STAMP)

setup: $(STAMP)

# The demo: digits (bundled with scikit-learn), a teacher trained on first use, SQLite under runs/,
# the local executor; prints the front and writes the report page under reports/demo-digits/.
demo: setup
	$(BIN)/kdnas search studies/demo-digits.yaml
	$(BIN)/kdnas report demo-digits

sysdeps:
	bash scripts/system-deps.sh

# Two pytest workers: the suite is mostly single-threaded processes, so both cores of a CI machine
# work (648 tests: 329 s against 512 s serially, same machine, same hour). TEST_WORKERS=0 runs serially.
# --durations: every run names its slowest tests, so the suite's time (kept under 8 minutes) is watched.
TEST_WORKERS ?= 2
test: setup sysdeps
	$(BIN)/python -m pytest -q --durations=15 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

# The configuration reference, generated from the config models (tests/test_reference.py checks it).
reference: setup
	$(BIN)/python -m kdnas.reference > docs/configuration.md

clean:
	rm -rf runs reports/demo-digits .pytest_cache
