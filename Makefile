# Taste2Vec Edge — every target installs what it needs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-toolkit-dev
OUT ?= runs/demo
MODEL_DIR ?= runs/model
BUNDLE := taste2vec-edge-1.1.0
SHIPPED := sdk/taste2vec/models

.PHONY: demo test model lexicon onnx-tf-check clean help

help:
	@echo "make demo     data -> train a small reference model -> evaluate (prints the table, writes $(OUT)/),"
	@echo "              then the SDK tour: embed EN/KO records with the shipped bundle, similarities, a recommendation"
	@echo "make test     the test suite"
	@echo "make model    rebuild the shipped bundle: train teacher -> distill -> TFLite -> quantize -> gate -> bundle"
	@echo "make lexicon  rebuild sdk/taste2vec/assets/sensory_lexicon.json from the flavour wheel"

# One environment for everything (reference model, conversion toolkit, tests): torch CPU, TF-CPU, litert-torch,
# ai-edge-quantizer, onnx, onnxruntime. The SDK alone needs only numpy + ai-edge-litert (pip install .).
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[toolkit,dev]'
	touch $@

demo: $(STAMP)
	$(PY) -m taste2vec_reference demo --out $(OUT) --no-resume
	$(PY) -m taste2vec demo

test: $(STAMP)
	$(PY) -m pytest -q

# Deterministic rebuild of the committed default bundle (fixed seeds, 2 torch threads). Prints the variant
# table, compares the rebuild with the committed bundle (identical files, or the documented tolerance), then
# installs it into $(SHIPPED).
model: $(STAMP)
	$(PY) -m taste2vec_reference train --out $(MODEL_DIR)/teacher --no-resume
	$(PY) -m taste2vec_convert export --checkpoint $(MODEL_DIR)/teacher/checkpoint --out $(MODEL_DIR)/export \
		--registry $(MODEL_DIR)/registry --no-resume
	-test -d $(SHIPPED)/$(BUNDLE) && $(PY) -m taste2vec_convert compare $(SHIPPED)/$(BUNDLE) $(MODEL_DIR)/export/bundles/$(BUNDLE)
	$(PY) -m taste2vec_convert install $(MODEL_DIR)/export/bundles/$(BUNDLE) --models-dir $(SHIPPED)
	$(PY) -m taste2vec_convert catalog --bundle $(SHIPPED)/$(BUNDLE) --out sdk/taste2vec/assets/demo_catalog.json
	mkdir -p sdk/golden && $(PY) -m taste2vec golden --out sdk/golden/$(BUNDLE).json

lexicon: $(STAMP)
	$(PY) -m taste2vec_reference build-lexicon

onnx-tf-check: $(STAMP)
	$(PY) -m taste2vec_convert onnx-tf-check

clean:
	rm -rf runs .pytest_cache
