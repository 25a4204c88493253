# Taste2Vec Edge — every target installs what it needs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-toolkit-dev
OUT ?= runs/demo
MODEL_DIR ?= runs/model
BUNDLE_NAME := taste2vec-edge-1.8.0
# the manifest's creation time: fixed per release, so a rebuild writes the same bytes
BUNDLE_CREATED := 2026-12-06T19:00:00Z
SHIPPED := sdk/taste2vec/models

.PHONY: demo demo-full test jvm-test kotlin-embed bench-kotlin android-lib model bench bench-arm bench-preprocess bench-serve bench-serve-ab \
	soak-serve bench-stream mutate \
	stream-demo \
	lexicon onnx-tf-check clean help

help:
	@echo "make demo     the product first: the SDK alone (seconds to install) embeds EN/KO records with the shipped"
	@echo "              bundle, similarities, a recommendation; then the toolkit, and the chain that makes a bundle,"
	@echo "              in small: a teacher (synthetic + real reviews) -> evaluation -> distill -> TFLite -> gate"
	@echo "              (90 % of the teacher's recall; make model: 97 %) -> a bundle in $(OUT)/ that the SDK then"
	@echo "              embeds with and recommends from (its catalog of the reviewed coffees, when the real data is"
	@echo "              there); about 5-8 min from a fresh clone"
	@echo "make demo-full  the same with the full demo teacher (text encoder tuned on real reviews, 1,000 steps)"
	@echo "make test     the test suite: Python, and beside it the Kotlin libraries' JVM tests against fresh goldens"
	@echo "make model    rebuild the shipped bundle: train teacher -> distill -> TFLite -> quantize -> gate -> bundle"
	@echo "              (RECORDS=FILE.jsonl: the teacher also learns from your own labelled records)"
	@echo "make lexicon  rebuild sdk/taste2vec/assets/sensory_lexicon.json from the flavour wheel"
	@echo "make bench    latency suite (pytest-benchmark, saved), taste2vec-bench with the 50 ms p99 budget, and the"
	@echo "              side-by-side table vs the variants, the PyTorch student and the teacher (torch + ONNX Runtime)"
	@echo "make bench-arm  the same budget check on emulated aarch64 (qemu-user-static; needs root; root cached)"
	@echo "make bench-preprocess  the SDK's per-record work against c6fb7c0 in one process: identical outputs on"
	@echo "              15,000+ records, preprocess and embed speed-ups per record set (runs/bench-preprocess/)"
	@echo "make bench-serve  load test of taste2vec-serve on 127.0.0.1: batching on/off, concurrency 1/8/32,"
	@echo "              1- and 32-record requests (records/s, p50/p90/p99, errors; runs/bench-serve/serve.png)"
	@echo "make bench-serve-ab  this server against c6fb7c0's (REV=...), PAIRS=3 pairs in one sitting: records/s ratio"
	@echo "              of 32-record requests at concurrency 8, single-record p50 (runs/bench-serve-ab/)"
	@echo "make soak-serve  the server for 10 minutes under mixed load and reloads: RSS per process, 5xx, p99 per minute"
	@echo "make bench-stream  events/s of the feedback stream at 2,000 and 10,000 events per micro-batch (median of 3)"
	@echo "make mutate   mutation testing (cosmic-ray) of the SDK's records, bundle, signing, profile and curation"
	@echo "              modules against their fast tests: score and surviving mutants (MODULES=records profile ...;"
	@echo "              slow: a test run per mutant; runs/mutate/report.md)"
	@echo "make kotlin-embed IN=FILE.jsonl  JSON lines of records -> one JSON result per line (stdout), through the"
	@echo "              Kotlin library on LiteRT's runtime; BUNDLE=path [TRUSTED_KEY=pem]; Python twin: taste2vec embed --jsonl"
	@echo "make bench-kotlin  Kotlin (JVM, LiteRT C API) vs the Python SDK: p50/p90/p99 per record and stage, one run"
	@echo "make android-lib  taste2vec-core + taste2vec-jvm as jar + sources jar + POM into build/maven (MAVEN_DIR=...)"
	@echo "make stream-demo  the feedback stream (Spark Structured Streaming, local) in a closed loop on the synthetic"
	@echo "              world: rounds of app events -> profiles and picks; precision@10 and like rates per round"

# One environment for everything: the SDK (taste2vec-edge, `pip install .`: numpy + ai-edge-litert + cryptography),
# the backend (taste2vec-backend in backend/: server, stream, lifecycle) and the toolkit (taste2vec-toolkit in
# toolkit/: torch CPU, TF-CPU, litert-torch, ai-edge-quantizer, onnx, onnxruntime; extras for the server, Spark,
# the load test and the tests), all editable.
TOOLKIT_EXTRAS := serve,spark,loadtest,dev
$(STAMP): setup.cfg pyproject.toml backend/setup.cfg backend/pyproject.toml toolkit/setup.cfg toolkit/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# bytecode on both cores (pip compiles its ~20,000 files on one); like pip, a third-party file that does not
	@# compile (litert-torch ships an example with a syntax error) is left as it is
	$(PY) -m pip install --quiet --no-compile -e . -e ./backend -e './toolkit[$(TOOLKIT_EXTRAS)]'
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
	  > /dev/null 2>&1 || true
	@# a venv whose toolkit still owned the backend's command lines loses them when that toolkit is replaced
	test -x $(VENV)/bin/taste2vec-serve || $(PY) -m pip install --quiet --no-deps --force-reinstall -e ./backend
	touch $@

# The SDK alone (numpy, ai-edge-litert, cryptography): enough for the Kotlin tools, which take LiteRT's runtime library
# from the ai-edge-litert wheel. A full toolkit install (make test) includes it.
SDK_STAMP := $(VENV)/.installed-sdk
$(SDK_STAMP): setup.cfg pyproject.toml
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt setup.cfg ]; then touch $@; exit 0; fi; \
	  test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e . && touch $@

# The product first, from the SDK alone (it installs in seconds); then the toolkit and the chain that makes a bundle,
# in small: make model's commands on an 800-coffee world, a 300-step teacher (frozen MiniLM, real reviews included)
# and a 1,000-step distillation on synthetic text, gated at 90 % of the teacher's recall (make model: 97 %).
DEMO_WORLD ?= --coffees 800 --users 300
DEMO_STEPS ?= 300
DEMO_DISTILL ?= 1000
DEMO_BUNDLE := $(OUT)/export/bundles/taste2vec-demo-0.1.0
# the real data (TASTE2VEC_DATA, else ../shared/data): the demo bundle embeds its catalog of reviewed coffees
DATA := $(or $(TASTE2VEC_DATA),../shared/data)
DEMO_CATALOG := $(if $(wildcard $(DATA)/coffee_reviews/coffee_reviews.csv),$(OUT)/catalog.json)
demo: $(SDK_STAMP)
	$(PY) -m taste2vec demo
	@echo; echo "== installing the toolkit (torch, TensorFlow, litert-torch; a few minutes the first time)"
	@$(MAKE) --no-print-directory $(STAMP)
	$(PY) -m taste2vec_reference demo --out $(OUT) --no-resume --steps $(DEMO_STEPS) --text-layers 0 $(DEMO_WORLD)
	$(PY) -m taste2vec_convert export --checkpoint $(OUT)/checkpoint --out $(OUT)/export --name taste2vec-demo \
		--version 0.1.0 --steps $(DEMO_DISTILL) --variants dynamic_int8 --no-resume --quiet --no-real \
		--min-retention 0.90
	$(if $(DEMO_CATALOG),$(PY) -m taste2vec_convert catalog --bundle $(DEMO_BUNDLE) --allow-unsigned \
		--out $(DEMO_CATALOG))
	$(PY) -m taste2vec demo --model $(DEMO_BUNDLE) --allow-unsigned $(if $(DEMO_CATALOG),--catalog $(DEMO_CATALOG))

demo-full: $(STAMP)
	$(PY) -m taste2vec_reference demo --out $(OUT) --no-resume
	$(PY) -m taste2vec demo

# The Python suite and the Kotlin libraries' JVM tests side by side: the JVM log is printed after pytest's, and
# either failing fails the target. kotlinc (mostly one core) compiles while pip installs the toolkit (one core);
# pytest runs on three workers, a test file per worker at a time (module fixtures such as a running server stay in
# one process): much of the suite waits on servers, Spark and subprocesses.
test:
	@mkdir -p build
	@(android_demo/jvm.sh compile > build/jvm-compile.log 2>&1 || true) & \
	  $(MAKE) --no-print-directory $(STAMP); status=$$?; wait; test $$status -eq 0
	@($(MAKE) --no-print-directory jvm-test > build/jvm-test.log 2>&1; echo $$? > build/jvm-test.rc) & \
	  $(PY) -m pytest -q -n 3 --dist loadfile; status=$$?; wait; \
	  echo "== JVM tests (make jvm-test, run beside pytest)"; cat build/jvm-test.log; \
	  test $$status -eq 0 && test "$$(cat build/jvm-test.rc)" -eq 0

# The Kotlin libraries on this JVM (android_demo/jvm.sh): fresh goldens from the Python SDK, kotlinc + JUnit 4 +
# JNA + BouncyCastle from Debian (installed when missing); taste2vec-core's tests, taste2vec-jvm's end-to-end tests
# on LiteRT's real runtime (libLiteRt.so from the ai-edge-litert wheel), the local Maven folder and a consumer.
jvm-test: $(STAMP)
	PY=$(PY) android_demo/jvm.sh test

# JSON lines in, one JSON result per line out (stdout only; everything else goes to stderr): the Kotlin library's
# validation and preprocessing and LiteRT's real runtime. IN=FILE (default: stdin); BUNDLE=folder|zip (default: the
# shipped bundle) with TRUSTED_KEY=pem, or unsigned for development. Diff with `taste2vec embed --jsonl FILE`.
kotlin-embed:
	@$(MAKE) -s --no-print-directory $(SDK_STAMP) >&2
	@android_demo/jvm.sh embed $(if $(BUNDLE),--bundle $(BUNDLE) $(if $(TRUSTED_KEY),--trusted-key $(TRUSTED_KEY),--allow-unsigned)) $(or $(IN),-)

# Kotlin p50/p90/p99 beside the Python SDK's, same records, same run (benchmarks/kotlin_side_by_side.py). ARM=1 (root)
# also runs both on emulated aarch64 (benchmarks/arm/bench-arm.sh with KOTLIN=1: an arm64 JRE + JNA in its root).
bench-kotlin: $(SDK_STAMP)
	$(PY) benchmarks/kotlin_side_by_side.py --out runs/bench-kotlin
ifeq ($(ARM),1)
	KOTLIN=1 OUT=runs/bench-kotlin/arm PY=$(PY) benchmarks/arm/bench-arm.sh
endif

# The Kotlin libraries as an app or a backend consumes them: com.taste2vec.edge:taste2vec-core and :taste2vec-jvm
# (jar + sources jar + POM) in a local Maven folder (default build/maven).
MAVEN_DIR ?= build/maven
android-lib:
	android_demo/jvm.sh maven $(MAVEN_DIR)

# Deterministic rebuild of the committed default bundle: fixed seeds, 2 torch threads, deterministic algorithms,
# a portable optimizer and pinned numpy/TF paths (taste2vec_reference/determinism.py). STRICT_MATH=1 also pins
# PyTorch's and MKL's kernels, so the bytes are the same on any x86-64 CPU, at several times the run time.
# Prints the variant table, compares the rebuild with the committed bundle (identical files, or the documented
# tolerance), then installs it into $(SHIPPED).
ifdef STRICT_MATH
export TASTE2VEC_STRICT_MATH := 1
endif
# Bundles are signed (Ed25519): SIGNING_KEY=path/to/release.pem for a release; by default a development key pair
# made on first use in runs/keys (never committed). The shipped copy is installed without the signature: inside the
# package it is trusted as part of the package, so rebuilds with different keys install the same bytes.
SIGNING_KEY ?= runs/keys/dev.pem
TRUST := --trusted-key $(SIGNING_KEY:.pem=.pub.pem)
# the exported bundle becomes a candidate in the build's registry (registering is the lifecycle's, not the export's)
REGISTER = $(PY) -m taste2vec_backend.lifecycle.cli register $(MODEL_DIR)/export/bundles/$(BUNDLE_NAME) \
	--registry $(MODEL_DIR)/registry $(TRUST) --reason "make model"
runs/keys/dev.pem: | $(STAMP)
	$(PY) -m taste2vec_convert keygen --out runs/keys --name dev

model: $(STAMP) $(SIGNING_KEY)
	$(PY) -m taste2vec_reference train --out $(MODEL_DIR)/teacher --no-resume $(if $(RECORDS),--records $(RECORDS))
	$(PY) -m taste2vec_convert export --checkpoint $(MODEL_DIR)/teacher/checkpoint --out $(MODEL_DIR)/export \
		--signing-key $(SIGNING_KEY) --no-resume --created $(BUNDLE_CREATED)
	$(REGISTER)
	-test -d $(SHIPPED)/$(BUNDLE_NAME) && $(PY) -m taste2vec_convert compare $(SHIPPED)/$(BUNDLE_NAME) \
		$(MODEL_DIR)/export/bundles/$(BUNDLE_NAME) $(TRUST)
	$(PY) -m taste2vec_convert install $(MODEL_DIR)/export/bundles/$(BUNDLE_NAME) --models-dir $(SHIPPED) $(TRUST)
	$(PY) -m taste2vec_convert catalog --bundle $(SHIPPED)/$(BUNDLE_NAME) --out sdk/taste2vec/assets/demo_catalog.json
	mkdir -p sdk/golden && $(PY) -m taste2vec golden --out sdk/golden/$(BUNDLE_NAME).json

# Benchmarks: never part of `make test`. The side-by-side table times the shipped bundle beside the student's and the
# teacher's architectures (latency does not depend on trained weights; recall@10 as the export measured it); after a
# `make model` it times and scores that build's trained models and variants instead.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e . -e ./backend -e './toolkit[$(TOOLKIT_EXTRAS),bench]'
	touch $@

bench: $(BENCH_STAMP)
	mkdir -p runs/bench
	$(PY) -m pytest benchmarks -q --benchmark-autosave --benchmark-sort=name \
		--benchmark-columns=min,median,mean,stddev,max,ops,rounds
	@# the budget check: the manifest's latency budget (p99 50 ms), 1,000 runs per record kind, one verdict table
	for rec in typical korean maximal; do $(PY) -m taste2vec.bench --record $$rec --no-samples \
		--out runs/bench/x86_64-$$rec.json > /dev/null || true; done
	$(PY) -m taste2vec.bench plot runs/bench/x86_64-typical.json runs/bench/x86_64-maximal.json runs/bench/x86_64.png
	set -o pipefail; $(PY) -m taste2vec.bench table runs/bench/x86_64-{typical,korean,maximal}.json | tee runs/bench/verdict.md
	$(PY) benchmarks/side_by_side.py --out runs/bench $(if $(wildcard $(MODEL_DIR)/export/variants),--model-dir $(MODEL_DIR))

bench-arm: $(BENCH_STAMP)
	benchmarks/arm/bench-arm.sh

# The SDK's per-record work (validation, lexicon, tokenizer, assembly; and embed) against the revision before it was
# made faster, in one process (benchmarks/preprocess_ab.py; REV=... compares with another revision).
REV ?= c6fb7c0
bench-preprocess: $(STAMP)
	$(PY) benchmarks/preprocess_ab.py --rev $(REV) --out runs/bench-preprocess

# The inference server under load: it listens on 127.0.0.1 only, the client runs bounded in time and requests.
SERVE_WORKERS ?= $(shell nproc)
bench-serve: $(STAMP)
	$(PY) -m taste2vec_backend.server.loadtest --out runs/bench-serve --server-arg=--workers=$(SERVE_WORKERS)

# The server against another revision's (REV, default c6fb7c0), pair by pair in one sitting: 32-record requests from 8
# clients and single records from one, each pair's ratio and the median (runs/bench-serve-ab/).
PAIRS ?= 3
bench-serve-ab: $(STAMP)
	$(PY) benchmarks/serve_ab.py --rev $(REV) --pairs $(PAIRS) --workers $(SERVE_WORKERS) --out runs/bench-serve-ab

# The server soaked for 10 minutes on 127.0.0.1: mixed load, bad bodies and reloads; RSS of every process every 30 s,
# 5xx and p99 per minute; exit 1 on a 5xx, RSS growth over 10 % or a minute's p99 over twice the first's.
soak-serve: $(STAMP)
	$(PY) -m taste2vec_backend.server.soak --out runs/soak-serve

# Throughput of the feedback stream: events/s at 2,000 and 10,000 events per micro-batch (Spark local; ~1.5 min).
bench-stream: $(STAMP)
	$(PY) benchmarks/stream_throughput.py --out runs/bench-stream

# Mutation testing: cosmic-ray in its own venv (it never imports our code; it mutates a module on disk, one mutant
# at a time, and runs that module's fast tests from .venv). Resumable: runs/mutate/<module>.sqlite.
MUTATE_VENV := .venv-mutate
$(MUTATE_VENV)/bin/cosmic-ray:
	test -x $(MUTATE_VENV)/bin/python || $(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/python -m pip install --quiet cosmic-ray==8.7.0

mutate: $(STAMP) $(MUTATE_VENV)/bin/cosmic-ray
	$(PY) tests/mutation/run.py --out runs/mutate $(if $(MODULES),--modules $(MODULES))

# The feedback stream in a closed loop on the synthetic world (Spark local mode; ~2 min).
stream-demo: $(STAMP)
	$(PY) -m taste2vec_backend.stream.demo --out runs/stream-demo

lexicon: $(STAMP)
	$(PY) -m taste2vec_reference build-lexicon

onnx-tf-check: $(STAMP)
	$(PY) -m taste2vec_convert onnx-tf-check

clean:
	rm -rf runs .pytest_cache
