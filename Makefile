# pairbench: the two commands of README.md.
#   make run   - set up .venv if needed, run the quick matrix (CPU, plus every visible GPU), write the report
#   make test  - set up .venv if needed, run the whole test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The test extra, Ray (extra "ray": the cluster tests run a local Ray cluster) and, on a machine
# with an NVIDIA driver, TensorFlow's CUDA wheels (extra "gpu").
EXTRAS := test,ray$(shell command -v nvidia-smi >/dev/null 2>&1 && echo ,gpu)
RESULTS ?= results
PYTEST_ARGS ?=

.PHONY: run test lint clean-venv

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

run: $(BIN)/.installed
	$(BIN)/pairbench doctor
	$(BIN)/pairbench run --quick --results-dir $(RESULTS)

test: $(BIN)/.installed
	@sh scripts/ensure-chromium
	$(BIN)/ruff check .
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV)
