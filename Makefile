# `make run` and `make test` do all set-up themselves on a fresh machine (Python, pip, apt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.installed-spark
PORT   ?= 8501
SAMPLE := sample_data/demo

.PHONY: run test lint typecheck unit e2e chromium java sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The Spark engine's tests need the spark extra (PySpark, ~490 MB) and Java; `make run` does not.
$(SPARK): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(SPARK)

run: $(STAMP)
	$(BIN)/shopper-lens load-sample --if-empty $(SAMPLE)
	@echo "Shopper Lens: open http://localhost:$(PORT)"
	$(BIN)/shopper-lens app --port $(PORT)

chromium:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

java:
	@command -v java >/dev/null || { \
	  echo "Installing a Java runtime for the Spark tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check analytics pages app.py serve.py tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy analytics

# Two workers (the machine has two cores); tests/conftest.py keeps browser and Spark tests together.
WORKERS ?= 3
test: $(STAMP) $(SPARK) chromium java lint typecheck
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup --durations=25

sample: $(STAMP)
	$(BIN)/shopper-lens sample --users 3000 --out $(SAMPLE)

clean:
	rm -rf $(VENV) workspace .pytest_cache .mypy_cache .ruff_cache
