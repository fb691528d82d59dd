"""Specialist serving on CPU: llama.cpp (f16 GGUF, batched C-API decoding) against transformers (merged, bf16 autocast).

    python benchmarks/serving_bench.py RUN_DIR:CLUSTER [RUN_DIR:CLUSTER ...] [--n 32] [--fp32] [--out benchmarks/out/serving.json]

For each cluster's adapter, on up to N of its held-out calls with the router's prompts (pruned, retrieved examples):
generated tokens/s at batch 1 and batch 8, latency per call at batch 1 (p50, p99), greedy answers identical to
transformers', the largest confidence difference, and every differing answer. Both engines run side by side in one process.
`--fp32` also answers with the merged model in fp32 (no autocast): which engine's answers match the unrounded model.
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from slm_agents.export import held_out, load_specialist
from slm_agents.formats import ShotBank, specialist_prompts
from slm_agents.models import generate, generate_scored
from slm_agents.formats import MAX_NEW


def measure(model, tok, prompts, max_new) -> dict:
    "Batch 1 (each call timed) and batch 8 runs of the same prompts."
    per_call, outs1 = [], []
    for p in prompts:
        t0 = time.perf_counter()
        outs1 += generate_scored(model, tok, [p], max_new, 1)
        per_call.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    outs8 = generate_scored(model, tok, prompts, max_new, 8)
    s8 = time.perf_counter() - t0
    ntok = lambda outs: sum(len(tok(o, add_special_tokens=False)["input_ids"]) + 1 for o, _ in outs)   # + the stop token
    return {"tokens_per_s_b1": round(ntok(outs1) / sum(per_call), 1), "tokens_per_s_b8": round(ntok(outs8) / s8, 1),
            "p50_ms": round(1000 * float(np.percentile(per_call, 50))), "p99_ms": round(1000 * float(np.percentile(per_call, 99))),
            "outs": outs1, "outs8": outs8}


def bench(run_dir, cid, n, fp32: bool = False) -> dict:
    adir = Path(run_dir) / "adapters" / str(cid)
    reqs, fmt = held_out(run_dir, cid, n)
    rec, outs = {"run": str(run_dir), "cluster": cid, "format": fmt, "n": len(reqs)}, {}
    for engine in ("transformers", "llama.cpp"):
        model, tok, info = load_specialist(adir, engine)
        prompts = specialist_prompts(tok, reqs, info["prune_rule"], ShotBank.load(adir), info["config"].get("context_tokens"))
        m = measure(model, tok, prompts, MAX_NEW[fmt])
        outs[engine] = (m.pop("outs"), m.pop("outs8"))
        rec[engine] = m
        if fp32 and engine == "transformers": ref = generate(model, tok, prompts, MAX_NEW[fmt], 8, bf16=False)
        del model
    (t1, t8), (l1, l8) = outs["transformers"], outs["llama.cpp"]
    rec["speedup_b1"] = round(rec["llama.cpp"]["tokens_per_s_b1"] / rec["transformers"]["tokens_per_s_b1"], 2)
    rec["speedup_b8"] = round(rec["llama.cpp"]["tokens_per_s_b8"] / rec["transformers"]["tokens_per_s_b8"], 2)
    rec["identical"] = sum(a[0] == b[0] for a, b in zip(t1, l1))
    rec["identical_b8"] = sum(a[0] == b[0] for a, b in zip(t8, l8))
    if fp32:
        rec["fp32_identical"] = {"transformers": sum(a[0] == r for a, r in zip(t8, ref)),
                                 "llama.cpp": sum(b[0] == r for b, r in zip(l8, ref))}
    rec["max_confidence_diff"] = round(max(abs(a[1] - b[1]) for a, b in zip(t1, l1)), 4)
    rec["differing"] = [{"i": i, "transformers": a[0], "llama.cpp": b[0]} for i, (a, b) in enumerate(zip(t1, l1)) if a[0] != b[0]]
    return rec


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="+", help="RUN_DIR:CLUSTER")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--fp32", action="store_true", help="compare both with the merged model in fp32")
    ap.add_argument("--out", default="benchmarks/out/serving.json")
    a = ap.parse_args()
    recs = []
    for t in a.targets:
        run_dir, cid = t.rsplit(":", 1)
        recs.append(bench(run_dir, int(cid), a.n, a.fp32))
        print(json.dumps({k: v for k, v in recs[-1].items() if k != "differing"}, indent=1), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(recs, indent=1))
