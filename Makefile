# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

test: $(STAMP)
	$(BIN)/python -m pyflakes refs featurize tui bench tests
	$(BIN)/lint-imports --no-cache
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.demo $(DEMO_ARGS)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
