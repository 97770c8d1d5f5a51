# Two commands on a fresh machine:  make train  |  make test   (each creates .venv on first use)
PYTHON ?= python3
VENV   ?= .venv
# torch is installed first and pinned, so that a CPU machine never pulls CUDA wheels. Override, e.g.
#   make TORCH_SPEC="torch==2.14.1" train      (or a CUDA build from your own index)
TORCH_SPEC ?= torch==2.13.0
# The pins everything else is installed with; constraints-lower.txt: every range's lower bound (test-lower)
CONSTRAINTS ?= constraints.txt
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.scatnet-installed
DATA   ?= cifar10
STUDY  ?= thesis
ARGS   ?=

.PHONY: setup train test test-fast test-isa test-lower lint format study sweep report bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/torch-pin.txt
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -c $(VENV)/torch-pin.txt -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/scatnet-train experiment=quickstart $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# The inner loop: everything but the tests marked slow (under 3 minutes on 2 cores).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

# pyproject.toml's lower bounds, each pinned (constraints-lower.txt), in a venv of their own: the fast tier and
# the W&B tests (about 4 minutes on 2 cores, the install included). CI runs it once.
test-lower:
	$(MAKE) VENV=.venv-lower CONSTRAINTS=constraints-lower.txt setup
	.venv-lower/bin/python -m pytest -m "not slow" $(ARGS)
	.venv-lower/bin/python -m pytest tests/test_wandb.py $(ARGS)

# ruff's lint and format check (pyproject.toml [tool.ruff]); `make format` applies both.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The tests that train or compare floats, again under PyTorch's AVX2 and its portable CPU kernels: results
# change with them as they do on another CPU, and every test must hold for both. Each with its own inductor
# cache: torch.compile's cached CPU kernels from another ISA setting gave wrong outputs (torch 2.13).
test-isa: $(STAMP)
	for isa in avx2 default; do \
	  TORCHINDUCTOR_CACHE_DIR=$$(mktemp -d) ATEN_CPU_CAPABILITY=$$isa $(BIN)/python -m pytest -m numerics $(ARGS) \
	    || exit 1; \
	done

# The whole study (every table and figure) in one resumable command; STUDY=smoke: minutes on a CPU.
study: $(STAMP)
	$(BIN)/scatnet-study study=$(STUDY) $(ARGS)

# The Table 1.4 grid (24 settings x 3 seeds) on one dataset; rerun to resume. See README "Sweeps".
sweep: $(STAMP)
	$(BIN)/scatnet-train -m sweep=table14 data=$(DATA) $(ARGS)

report: $(STAMP)
	$(BIN)/scatnet-report $${SCATNET_OUTPUTS:-outputs}/sweeps $(ARGS)

bench: $(STAMP)
	$(BIN)/scatnet-bench $(ARGS)

clean:
	rm -rf $(VENV) .venv-lower outputs .pytest_cache
