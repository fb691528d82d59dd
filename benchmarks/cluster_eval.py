"""How well S3 clustering recovers the agent-mix's hidden task labels, and what the part weighting does.

    python benchmarks/cluster_eval.py [--out benchmarks/out/cluster.json]

Clustering sees only the requests (never source/task/reference); labels are joined afterwards for scoring.
"""
import argparse, json, time
from pathlib import Path
import polars as pl
from slm_agents.cluster import cluster, cluster_scores, combine, part_embeddings, load_embedder, reduce
from slm_agents.datasets import agent_mix

WEIGHTS = {"default 1:1:0.5": {"instruction": 1, "tools": 1, "user": 0.5}, "equal 1:1:1": {"instruction": 1, "tools": 1, "user": 1},
           "user only": {"instruction": 0, "tools": 0, "user": 1}, "instruction only": {"instruction": 1, "tools": 0, "user": 0},
           "tools+user 0:1:0.5": {"instruction": 0, "tools": 1, "user": 0.5}}

_CACHE = {}
def labels(df, emb, w):
    key = tuple(df["call_id"])
    if key not in _CACHE: _CACHE[key] = part_embeddings([json.loads(r) for r in df["request"]], emb)
    return cluster(reduce(combine(_CACHE[key], w))[1], df["call_id"].to_list())

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--out", default="benchmarks/out/cluster.json"); a = ap.parse_args()
    emb, res = load_embedder(), {}
    full = agent_mix(None)
    for name, w in WEIGHTS.items():
        t0 = time.perf_counter(); lab = labels(full, emb, w)
        res[f"agent-mix full ({len(full)}), weights {name}"] = {**cluster_scores(lab, full["task"]), "vs_node_ari": cluster_scores(lab, full["node"])["ari"],
                                                               "seconds": round(time.perf_counter() - t0, 1)}
        print(name, res[f"agent-mix full ({len(full)}), weights {name}"], flush=True)
    bal = agent_mix(300, seed=1)
    lab = labels(bal, emb, WEIGHTS["default 1:1:0.5"])
    res["agent-mix balanced (300 per source), default weights"] = {**cluster_scores(lab, bal["task"]), "vs_node_ari": cluster_scores(lab, bal["node"])["ari"]}
    bfcl = full.filter(pl.col("task") == "tool_call")
    for name in ("default 1:1:0.5", "tools+user 0:1:0.5"):
        lab = labels(bfcl, emb, WEIGHTS[name])
        res[f"BFCL only ({len(bfcl)}) vs category, weights {name}"] = cluster_scores(lab, bfcl["source"])
    for k, v in res.items(): print(k, v)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
