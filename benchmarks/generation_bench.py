"""Batched vs batch-1 greedy generation of SmolLM2-135M-Instruct on CPU (bf16 autocast), side by side in one run.

    python benchmarks/generation_bench.py [--prompts 24] [--max-new-tokens 32] [--out benchmarks/out/generation.json]
"""
import argparse, json
from pathlib import Path
from slm_agents.datasets import agent_mix
from slm_agents.models import load, prompt_text, render_messages, throughput

ap = argparse.ArgumentParser()
ap.add_argument("--prompts", type=int, default=24); ap.add_argument("--max-new-tokens", type=int, default=32)
ap.add_argument("--out", default="benchmarks/out/generation.json")
a = ap.parse_args()
model, tok = load("smollm2-135m-instruct")
calls = agent_mix(None, sample=a.prompts, seed=7)["request"].to_list()
prompts = [prompt_text(tok, render_messages(json.loads(r))) for r in calls]
rows = throughput(model, tok, prompts, batch_sizes=(1, 8), max_new_tokens=a.max_new_tokens)
Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(rows, indent=1))
for r in rows: print(r)
print(f"batch 8 / batch 1 tokens/s: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}x")
