# Taste2Vec Edge — every target installs what it needs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-reference-dev
OUT ?= runs/demo

.PHONY: demo test lexicon clean help

help:
	@echo "make demo     data -> train a small reference model -> evaluate (prints the table, writes $(OUT)/)"
	@echo "make test     the test suite"
	@echo "make lexicon  rebuild sdk/taste2vec/assets/sensory_lexicon.json from the flavour wheel"

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[reference,dev]'
	touch $@

demo: $(STAMP)
	$(PY) -m taste2vec_reference demo --out $(OUT) --no-resume

test: $(STAMP)
	$(PY) -m pytest -q

lexicon: $(STAMP)
	$(PY) -m taste2vec_reference build-lexicon

clean:
	rm -rf runs .pytest_cache
