# Two commands matter: `make demo` and `make test`. Both build .venv from nothing.
#
# TORCH is what pip installs for torch before seqcli. The default pins the CPU
# build that this project's machines keep on disk. With a GPU, either install your
# own torch into .venv first (it is kept: seqcli only asks for torch>=2.1), or run
# e.g. `make TORCH=torch demo`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench bench-env bench-report clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/python corpora/make_corpus.py --check
	$(BIN)/seqcli train-lm corpora/fables.txt --level char --out models/demo-char.pt \
		--epochs 30 --max-time 1 --hidden-size 256 --num-layers 1 --seed 1
	$(BIN)/seqcli sample -m models/demo-char.pt -n 3 --max-length 200 \
		--temperature 0.7 --prompt "The " --seed 1

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks: `make bench SUITE=quick|full [ONLY=name,...]` runs the figures of a
# suite (python -m bench), writes docs/results/NAME.json per figure and regenerates
# docs/RESULTS.md. The peers that must not become seqcli dependencies (seqeval,
# Joey NMT) live in bench-only virtual environments under bench/envs/ (ignored).
SUITE ?= quick
ONLY ?=
BENCH_ENVS := bench/envs

bench: setup bench-env
	$(BIN)/python -m bench --suite $(SUITE) $(if $(ONLY),--only $(ONLY))

bench-env: $(BENCH_ENVS)/seqeval/.installed $(BENCH_ENVS)/joeynmt/.installed

$(BENCH_ENVS)/seqeval/.installed:
	test -x $(BENCH_ENVS)/seqeval/bin/python || $(PYTHON) -m venv $(BENCH_ENVS)/seqeval
	$(BENCH_ENVS)/seqeval/bin/pip install -q "seqeval==1.2.2"
	touch $@

# Joey NMT 2.3.0 on the same torch as seqcli; it imports importlib_metadata without
# declaring it. bench/peers/joey_run.py holds its other workarounds for torch 2.13.
$(BENCH_ENVS)/joeynmt/.installed:
	test -x $(BENCH_ENVS)/joeynmt/bin/python || $(PYTHON) -m venv $(BENCH_ENVS)/joeynmt
	$(BENCH_ENVS)/joeynmt/bin/pip install -q "$(TORCH)" "joeynmt==2.3.0" importlib-metadata
	touch $@

bench-report: setup
	$(BIN)/python -m bench.report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
