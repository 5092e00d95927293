# `make all` sets up .venv and runs the pipeline; `make test` runs lint and the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# The CPU build of torch (pip's default torch pulls ~4 GB of CUDA libraries). On a GPU machine,
# TORCH_INDEX=https://download.pytorch.org/whl/<cuda tag> installs a CUDA build instead.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
export PATH := $(BIN):$(PATH)

.PHONY: all setup lock repro test lint postgres smoke smoke-horizon stage-minutes bench training-budget monitor-month panel-4h push pull clean

all: repro

setup: $(VENV)/.installed

# requirements.lock pins every dependency at the versions the tests passed with (torch aside:
# TORCH_SPEC picks its build); `make lock` refreshes it from the current .venv.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

lock:
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|nvidia-|triton)[=-]' > requirements.lock

repro: setup
	cryptocast data preflight
	dvc repro

lint: setup
	ruff check src stages tests bench scripts

# The sweep-worker tests start a real PostgreSQL server (Debian's package) on 127.0.0.1.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

test: lint postgres
	pytest

# The whole pipeline on the real data with the small profile in params.smoke.yaml,
# in a throwaway copy of the repo (build/smoke), so the workspace is left untouched.
smoke: setup
	python scripts/smoke.py --overrides params.smoke.yaml --dest build/smoke

# The same three candles ahead (params.smoke-horizon.yaml): every stage at eval.horizon > 1.
smoke-horizon: setup
	python scripts/smoke.py --overrides params.smoke.yaml --overrides params.smoke-horizon.yaml \
		--dest build/smoke-horizon

# The default pipeline from scratch in a throwaway copy, each stage timed (README's stage table).
stage-minutes: setup
	python scripts/smoke.py --dest build/full --timings bench/results/stage_minutes.json

# What smaller and larger pretraining budgets do on the panel's validation windows
# (docs/training.md), and other training seeds beside them: about 2.5 hours on 2 cores.
training-budget: setup
	python bench/training_budget.py
	python bench/training_budget.py --family toto --seed 43 --seed 44 \
		--out bench/results/training_budget_toto_seeds.json
	python bench/training_budget.py --family kronos --scale 0.5 --seed 43 \
		--out bench/results/training_budget_kronos_seeds.json
	python bench/training_budget.py --family kronos --scale 2 \
		--out bench/results/training_budget_kronos_longer.json

# A simulated month of `cryptocast monitor` on the pipeline's production configs (docs/).
monitor-month: setup
	python scripts/monitor_month.py --days 30

# The panel on 4-hourly candles beside the daily one (panel.intervals), once, in a throwaway
# copy that shares the DVC cache: docs/panel-4h/.
panel-4h: setup
	python scripts/panel_intervals.py --interval 4h

bench: setup
	python bench/toto_latency.py
	python bench/kronos_latency.py
	python bench/thread_contention.py
	python bench/sweep_speed.py
	python bench/device_check.py

push: setup
	dvc push

pull: setup
	dvc pull

clean:
	rm -rf build .pytest_cache .ruff_cache
