# autosearch: `make install && make search TASK=text`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TASK ?= text

# Optional overrides, passed to the pipeline only when set.
SEARCH_ARGS = \
	$(if $(MAX_TRIALS),--max-trials $(MAX_TRIALS)) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) \
	$(if $(TIME_BUDGET),--time-budget $(TIME_BUDGET)) \
	$(if $(TUNER),--tuner $(TUNER)) \
	$(if $(SEED),--seed $(SEED)) \
	$(if $(PATIENCE),--patience $(PATIENCE)) \
	$(if $(DATA),--data $(DATA)) \
	$(if $(TEXT_COLUMN),--text-column $(TEXT_COLUMN)) \
	$(if $(LABEL_COLUMN),--label-column $(LABEL_COLUMN)) \
	$(if $(MAX_ROWS),--max-rows $(MAX_ROWS)) \
	$(if $(WORKERS),--workers $(WORKERS)) \
	$(if $(TRACKER),--tracker $(TRACKER))

.PHONY: install browser postgres resume search export predict report leaderboard reproduce test bench clean help

help:
	@echo "make install                 create $(VENV) and install autosearch with pinned AutoKeras/Keras/TensorFlow"
	@echo "make search TASK=text        run a tracked search (TASK: a shipped pipeline; .venv/bin/autosearch pipelines lists them)"
	@echo "   overrides: MAX_TRIALS EPOCHS TIME_BUDGET TUNER SEED PATIENCE DATA TEXT_COLUMN LABEL_COLUMN MAX_ROWS WORKERS TRACKER"
	@echo "make export [RUN=id] [TRIAL=n] write a bundle of a run's best (or given) trial"
	@echo "make predict BUNDLE=dir INPUT=in.csv OUTPUT=out.csv [TEXT_COLUMN=name]"
	@echo "make leaderboard [RUN=id]    ranked trials (FORMAT=table|markdown|csv|json, TOP=n)"
	@echo "make report [RUN=id]         HTML report under artifacts/reports/"
	@echo "make resume RUN=id           continue a stopped run (Ctrl-C, kill, crash) with the same id and budget"
	@echo "make reproduce TRIAL=run/n   re-run a trial from its hyperparameters and seed"
	@echo "make test                    the test suite (tiny real searches included)"
	@echo "make bench                   the slow tests (pytest -m slow), then the benchmarks (about 45 min):"
	@echo "                             artifacts/bench/<date>.json and .md"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,mlflow]'
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory postgres
	touch $@

# Debian's Chromium drives the report tests (their own browser downloads cannot work offline).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null; \
	else echo "note: install Debian's chromium and chromium-driver to run the report tests" >&2; fi

# Debian's PostgreSQL serves the postgresql:// tracker tests: they start a throwaway server as an
# unprivileged user on a loopback port (without it they skip, and fail under CI).
postgres:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null; \
	else echo "note: install Debian's postgresql to run the PostgreSQL tracker tests" >&2; fi

search: $(VENV)/.installed
	$(PY) -m autosearch search --pipeline $(TASK) $(strip $(SEARCH_ARGS))

export: $(VENV)/.installed
	$(PY) -m autosearch export $(RUN) $(if $(TRIAL),--trial $(TRIAL)) $(if $(OUT),--out $(OUT)) $(if $(H5),--h5)

predict: $(VENV)/.installed
	@test -n "$(BUNDLE)" -a -n "$(INPUT)" -a -n "$(OUTPUT)" || \
		{ echo "usage: make predict BUNDLE=artifacts/runs/<run id>/export INPUT=in.csv OUTPUT=out.csv" >&2; exit 2; }
	$(PY) -m autosearch predict $(BUNDLE) --input $(INPUT) --output $(OUTPUT) $(if $(TEXT_COLUMN),--text-column $(TEXT_COLUMN))

leaderboard: $(VENV)/.installed
	$(PY) -m autosearch leaderboard $(RUN) $(if $(FORMAT),--format $(FORMAT)) $(if $(TOP),--top $(TOP))

report: $(VENV)/.installed
	$(PY) -m autosearch report $(RUN)

resume: $(VENV)/.installed
	@test -n "$(RUN)" || { echo "usage: make resume RUN=<run id>  (autosearch runs lists them)" >&2; exit 2; }
	$(PY) -m autosearch resume $(RUN)

reproduce: $(VENV)/.installed
	@test -n "$(TRIAL)" || { echo "usage: make reproduce TRIAL=<run id>/<n>" >&2; exit 2; }
	$(PY) -m autosearch reproduce $(TRIAL)

test: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow" -q --durations=15

# First the tests marked slow (the harness end to end, real kills and resumes), so a broken harness fails in
# minutes, not after the run; then the benchmarks: every figure a ratio against a yardstick measured in the
# same run; writes artifacts/bench/<date>.json and .md.
bench: $(VENV)/.installed
	$(PY) -m pytest -m slow -q --durations=0
	$(PY) -m benchmarks

clean:
	rm -rf artifacts/runs artifacts/tracker.db* .pytest_cache
