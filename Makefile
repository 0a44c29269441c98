# ea-mt developer commands.  `make install` is idempotent: it only reinstalls when
# pyproject.toml, requirements/* or the TORCH spec changed.
#   make install VENV=/tmp/venv-check        # install into another venv
#   make install TORCH='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'
#   make wheel-smoke                        # build the wheel, install it into a fresh venv, try it

VENV ?= .venv
PYTHON ?= python3
# Always an exact pin: a bare `torch` would pull several GB of CUDA wheels.
TORCH ?= torch==2.13.0
# What the last install step installs: this tree, editable, with its test tools.
# .ci/wheel-smoke passes a built wheel instead (EA_MT_SPEC=/path/to/ea_mt-*.whl).
EA_MT_SPEC ?= -e '.[test]'

BIN := $(VENV)/bin
STAMP := $(VENV)/.ea-mt-installed
TORCH_SPEC := $(VENV)/.ea-mt-torch-spec
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: install test lint demo wheel-smoke bench-decoding FORCE

install: $(STAMP)

# Rewritten only when TORCH changes, so that a new spec triggers a reinstall.
$(TORCH_SPEC): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

$(STAMP): pyproject.toml $(wildcard requirements/*.txt) $(TORCH_SPEC)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(TORCH)
	$(PIP) install --no-deps --require-hashes -r requirements/fairseq.txt
	$(PIP) install -c requirements/constraints.txt $(EA_MT_SPEC)
	touch $@

test: install
	$(BIN)/pytest -q
	$(BIN)/ruff check .

lint: install
	$(BIN)/ruff check .

demo: install
	$(BIN)/ea-mt demo

# The wheel is built with this venv's pip; the fresh venv gets PYTHON and TORCH as above.
wheel-smoke: install
	VENV=$(VENV) PYTHON=$(PYTHON) TORCH='$(TORCH)' .ci/wheel-smoke

# The decoding benchmark (benchmarks/decoding/): its own requirements, then the run; by
# default the bundled models on the bundled sample, or e.g.
#   make bench-decoding ARGS='--ea EA_MODEL_DIR --vanilla VANILLA_MODEL_DIR --source FILE'
bench-decoding: install
	$(PIP) install -c requirements/constraints.txt -r requirements/benchmarks.txt
	$(BIN)/python -m benchmarks.decoding $(ARGS)

FORCE:
