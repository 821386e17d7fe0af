# Every target creates the virtual environment first when it is missing.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test test-quick bench lint clean fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77'
	$(BIN)/python -m pip install --quiet -e '.[test,color,dask]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/seed_f4.py

# -n auto --dist loadfile (pytest-xdist): one worker per core, each test file on one worker
# (module-level fixtures compile once); the whole suite on CI's 2 cores takes about 8 minutes.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# The suite without the tests marked `slow` (large numba compiles, subprocesses, fuzzing
# campaigns; tests/conftest.py registers the marker): under a minute.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The peers (jax, autograd, torch, NVIDIA Warp on its cpu device) and matplotlib are installed
# when missing; a failed install is reported and the benchmarks run without that peer (its rows
# say "missing").
bench: $(STAMP)
	@$(BIN)/python -c "import jax, autograd, matplotlib" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet jax autograd matplotlib || \
		echo "bench: could not install jax/autograd/matplotlib; running without the missing ones"
	@$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet torch==2.13.0 || \
		echo "bench: could not install torch==2.13.0; running without it"
	@$(BIN)/python -c "import warp" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet warp-lang || \
		echo "bench: could not install warp-lang; running without it"
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check adjoint tests examples benchmarks

clean:
	rm -rf $(VENV) build *.egg-info

# Differential fuzzing (tests/fuzzing.py): N random programs from seed SEED (scalar and array
# programs, each also checked at a tie/kink point), python target on all of them, cpu (numba)
# on every third scalar program and every ARRAY_CPU_EVERY-th array program (numba takes
# ~10-30 s on one); failures print the program and the arguments.
N    ?= 1000
SEED ?= 1
ARRAY_CPU_EVERY ?= 15
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzzing --seed $(SEED) --count $(N) --array-cpu-every $(ARRAY_CPU_EVERY)
