# The two commands of this repository:
#
#   make book   execute every chapter (profile auto) and build the HTML book in _build/html
#   make test   unit tests, every chapter in the smoke profile, and a book build
#
# Both first do all the set-up a fresh machine needs: a virtual environment ($(VENV)), PyTorch
# (the CPU build where there is no CUDA), cellnb with its book and test extras, and the StarDist
# and napari-ndev packages for their real test images (a nuclei field; one hiPSC cell). The set-up
# is redone only when pyproject.toml or this Makefile changes (a stamp file in the environment
# records the last install).
#
# make students writes the student version of every chapter with exercises (solutions removed)
# to _build/students/.
#
# Variables: VENV (another environment, e.g. make test VENV=/tmp/venv-fresh), PYTHON (the
# interpreter that creates it), PROFILE (for make book), PYTEST_ARGS (e.g. PYTEST_ARGS="-m 'not
# notebook and not book'" for the unit tests only).

VENV ?= .venv
PYTHON ?= python3
PROFILE ?= auto
PYTEST_ARGS ?=
# A CPU wheel of this version is tried from local disk first (pip's find-links), then the
# PyTorch CPU index; with CUDA present (nvidia-smi works) the default PyPI build is installed.
TORCH_LOCAL_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
STARDIST_VERSION ?= 0.9.2
NAPARI_NDEV_VERSION ?= 0.11.8

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.cellnb-install-stamp

.PHONY: book test students lint setup clean

book: $(STAMP)
	$(BIN)/cellnb book --profile $(PROFILE)

# The chapters without their solutions, for a course: _build/students/<chapter>.ipynb
students: $(STAMP)
	$(BIN)/cellnb students --out _build/students

# pytest exits 5 when it collected no test; that is a failure here, said in words.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "make test: pytest collected no tests (PYTEST_ARGS='$(PYTEST_ARGS)'); failing" >&2; \
	fi; \
	exit $$status

# Style and error checks (ruff, configured in pyproject.toml); not part of make test.
lint: $(STAMP)
	$(PIP) install --quiet "ruff>=0.4"
	$(BIN)/ruff check cellnb tests benchmarks scripts

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(PIP) install --upgrade pip
	@if nvidia-smi > /dev/null 2>&1; then \
		echo "CUDA found: installing the default PyTorch build"; \
		$(PIP) install torch; \
	elif $(PIP) install --no-index --no-deps "torch==$(TORCH_LOCAL_VERSION)"; then \
		echo "installed the local CPU wheel of PyTorch $(TORCH_LOCAL_VERSION)"; \
	else \
		echo "no CUDA, no local wheel: installing PyTorch from the CPU index"; \
		$(PIP) install torch --index-url $(TORCH_CPU_INDEX); \
	fi
	$(PIP) install -e ".[book,test]"
	$(PIP) install --no-deps "stardist==$(STARDIST_VERSION)" "napari-ndev==$(NAPARI_NDEV_VERSION)"
	touch $@

clean:
	rm -rf _build
