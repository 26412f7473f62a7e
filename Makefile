# routelab: `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The build mode is part of the stamp: switching ROUTELAB_PURE_PYTHON on or off reinstalls.
MODE   := $(if $(filter 1 true yes,$(ROUTELAB_PURE_PYTHON)),pure,compiled)
STAMP  := $(VENV)/.installed-$(MODE)

.PHONY: demo test lint bench install browser wrk clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Modules compiled with mypyc (COMPILED in runtime/compiled.py): a change to one means a
# rebuild. Until then routelab runs them from source, with a warning (runtime/compiled.py).
COMPILED := $(shell sed -n 's/^    "\(.*\.py\)",$$/\1/p' runtime/compiled.py)

# Reinstall (and recompile) whenever the packaging or a compiled module changes.
$(STAMP): pyproject.toml setup.py runtime/compiled.py $(COMPILED) | $(BIN)/python
	rm -f $(VENV)/.installed*
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/routelab demo

# Headless Chromium and its driver (Debian packages) for the report browser test.
browser:
	@command -v chromedriver >/dev/null || { apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# wrk (Debian package): the reference load generator of the router and load-generator benchmarks.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends wrk; }

# All three benchmarks, one after the other (about eight minutes); each ends with a JSON line.
bench: $(STAMP) wrk
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_router.py
	$(BIN)/python benchmarks/bench_loadgen.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name '*.so' -not -path './$(VENV)/*' -delete
	rm -f runtime/compiled_manifest.json
