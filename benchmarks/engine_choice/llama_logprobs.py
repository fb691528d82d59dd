"""llama.cpp's high-level `Llama` API with and without `logits_all` (needed there for log-probabilities), f16 and q8_0 GGUF.

    python benchmarks/engine_choice/llama_logprobs.py RUN_DIR CLUSTER FORMAT N GGUF[,GGUF]

The q8_0 and `logits_all` numbers in benchmarks/RESULTS.md came from this probe; GGUF files from `slm-agents export --to gguf`.
"""
import json, sys, time, math
from pathlib import Path
from llama_cpp import Llama
from slm_agents.finetune import load_adapter, specialist_prompts, ShotBank, _cluster_rows
from slm_agents.models import generate_scored
from slm_agents.select import MAX_NEW
run, cid, fmt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
adir = Path(run) / "adapters" / cid
m, tok, info = load_adapter(adir, merge=True)
rows = _cluster_rows(run)[int(cid)][-n:]
prompts = specialist_prompts(tok, [json.loads(r["request"]) for r in rows], info["prune_rule"], ShotBank.load(adir), info["config"].get("context_tokens"))
mx = MAX_NEW[fmt]
t0 = time.perf_counter(); hf = generate_scored(m, tok, prompts, mx, 1); hs = time.perf_counter() - t0
ntok = lambda outs: sum(len(tok(o, add_special_tokens=False)["input_ids"]) + 1 for o in outs)
print("hf bs1", round(ntok([a for a, _ in hf]) / hs, 1), round(hs / n, 2), "s/call")
for g in sys.argv[5].split(","):
    for la in (False, True):
        llm = Llama(g, n_ctx=4096, n_threads=2, n_batch=512, verbose=False, logits_all=la)
        t0 = time.perf_counter(); outs = []
        for p in prompts:
            r = llm.create_completion(p, max_tokens=mx, temperature=0.0, top_k=1, logprobs=1 if la else None)
            c = r["choices"][0]
            conf = math.exp(sum(c["logprobs"]["token_logprobs"]) / max(1, len(c["logprobs"]["token_logprobs"]))) if la else None
            outs.append((c["text"].strip(), conf))
        s = time.perf_counter() - t0
        agree = [a == b[0] for (a, _), b in zip(hf, outs)]
        print(Path(g).name, "logits_all" if la else "", round(ntok([o for o, _ in outs]) / s, 1), round(s / n, 2), "s/call agree", sum(agree), "/", n,
              [(round(c1, 3), round(c2, 3) if c2 else None) for (_, c1), (_, c2) in list(zip(hf, outs))[:3]])
        del llm
