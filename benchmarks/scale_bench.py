"""S2+S3 at scale: curate, embed and cluster N calls on this machine's cores; time per stage and peak memory.

    python benchmarks/scale_bench.py [--sizes 10000,30000,100000] [--out benchmarks/out/scale.json]

The calls come from the full agent-mix (23.7k). Beyond that size, copy k of a call drops one word of its user turn (seeded),
so copies are new texts that the PII detector, the deduplicator and the embedder really process, not repeats they skip.
Each size runs in a fresh process, so its peak memory (RSS of the process and its PII workers) is its own.
"""
import argparse, json, os, random, resource, subprocess, sys, time
from pathlib import Path

def make_calls(n: int, path: Path):
    import polars as pl
    from slm_agents.datasets import agent_mix
    base = agent_mix(None).drop("task", "source", "reference")
    rows, rng = [], random.Random(0)
    for k in range(-(-n // len(base))):
        for r in base.iter_rows(named=True):
            if k:
                req = json.loads(r["request"]); m = req["messages"][-1]; words = m["content"].split()
                if len(words) > 2: words.pop(rng.randrange(len(words)))
                m["content"] = " ".join(words); r = {**r, "request": json.dumps(req), "call_id": f"{r['call_id']}-{k}"}
            rows.append(r)
            if len(rows) == n: break
    pl.DataFrame(rows, schema=base.schema).write_parquet(path)

def one(path: str, n_jobs: int) -> dict:
    import numpy as np, polars as pl
    from slm_agents.curate import curate
    from slm_agents.cluster import cluster, embed_calls, load_embedder, reduce
    calls = pl.read_parquet(path); t = {}
    t0 = time.perf_counter(); cur, q, rep = curate(calls, n_jobs=n_jobs); t["curate_s"] = time.perf_counter() - t0
    emb = load_embedder()
    t0 = time.perf_counter(); X = embed_calls([json.loads(r) for r in cur["request"]], emb); t["embed_s"] = time.perf_counter() - t0
    t0 = time.perf_counter(); _, Z = reduce(X); labels = cluster(Z, cur["call_id"].to_list()); t["cluster_s"] = time.perf_counter() - t0
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    return {"calls": len(calls), "curated": len(cur), "clusters": int(len(set(labels.tolist()) - {-1})),
            **{k: round(v, 1) for k, v in t.items()}, "total_s": round(sum(t.values()), 1), "peak_rss_gib_upper_bound": round(peak, 2)}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,30000,100000"); ap.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="benchmarks/out/scale.json"); ap.add_argument("--one", default=None)
    a = ap.parse_args()
    if a.one: print(json.dumps(one(a.one, a.n_jobs))); sys.exit()
    res = []
    Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
    for n in map(int, a.sizes.split(",")):
        p = Path(f"benchmarks/out/scale_{n}.parquet"); make_calls(n, p)
        out = subprocess.run([sys.executable, __file__, "--one", str(p), "--n-jobs", str(a.n_jobs)], capture_output=True, text=True)
        if out.returncode: print(out.stderr[-3000:]); sys.exit(1)
        res.append(json.loads(out.stdout.strip().splitlines()[-1])); print(res[-1], flush=True)
    Path(a.out).write_text(json.dumps({"cores": os.cpu_count(), "n_jobs": a.n_jobs, "runs": res}, indent=1))
