# The two commands of the README: `make run` and `make test`.
# Both install what they need first (Debian packages, a venv in .venv).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export LOCKPOST_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test install lint format migrate clean

$(STAMP): requirements/base.txt requirements/test.txt scripts/install-debian-packages
	bash scripts/install-debian-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/test.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	bash scripts/run

test: install
	bash scripts/test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var
