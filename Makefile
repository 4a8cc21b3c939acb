# Two entry points, each doing all set-up on a fresh machine (Python >= 3.11 and make; the
# system libraries the PDF documents need are installed by scripts/ensure-system-packages):
#   make demo   load the sample commands into the default SQLite store and show the ledger
#   make test   the whole test suite, on SQLite and PostgreSQL
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	scripts/ensure-system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/python -m compileall -q ledger commands projections
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python scripts/demo.py

test: $(STAMP)
	scripts/ensure-postgres
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) out support-ledger.db support-ledger.db-wal support-ledger.db-shm support-ledger.db-turn
