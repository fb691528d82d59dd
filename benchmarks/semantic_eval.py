"""Calibrate the free-text score: how often does a second human's TLDR of the same paper count as saying the same thing,
and how often does a TLDR of another paper? SciTLDR's dev and test papers carry 2-4 human TLDRs each.

    python benchmarks/semantic_eval.py [--data-dir DIR] [--run-dir RUN --cluster C --n 40]

With --run-dir, a free-text specialist's answers to its cluster's held-out calls are scored both ways too (semantic
equivalence and ROUGE-L against the logged answer), so the two metrics can be compared on model output.
Writes benchmarks/out/semantic_eval.json."""
import argparse, json, os
from pathlib import Path
import numpy as np
from slm_agents.cluster import embed_texts
from slm_agents.datasets import dataset_dir
from slm_agents.select import EQUIVALENT, rouge_l, semantic_match, shared_embedder

THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)

def papers(data_dir):
    d = dataset_dir("scitldr", data_dir)
    rows = [json.loads(line) for f in ("dev", "test") for line in open(d / f"{f}.jsonl")]
    return [r for r in rows if len(r["target"]) >= 2]

def pairs(rows):
    "Cosines of (first TLDR, second TLDR of the same paper), of another random paper, of the most similar other paper."
    emb = shared_embedder()
    first = embed_texts(emb, [r["target"][0] for r in rows])
    second = embed_texts(emb, [r["target"][1] for r in rows])
    abstracts = embed_texts(emb, [" ".join(r["source"])[:1000] for r in rows])
    rng = np.random.default_rng(0)
    other = (np.arange(len(rows)) + rng.integers(1, len(rows), len(rows))) % len(rows)
    sims = abstracts @ abstracts.T
    np.fill_diagonal(sims, -1)
    near = sims.argmax(1)                                 # the paper whose abstract is closest: a hard negative
    return {"same paper, second human": (first * second).sum(1),
            "another paper, random": (first * second[other]).sum(1),
            "another paper, most similar abstract": (first * second[near]).sum(1)}

def model_answers(run_dir, cluster, n):
    "(answers, logged answers) of a run's free-text specialist on its cluster's held-out calls."
    import polars as pl
    from slm_agents.finetune import adapter_answer, load_adapter
    from slm_agents.router import heldout_part
    from slm_agents.formats import target_text
    calls = pl.read_parquet(Path(run_dir) / "curated.parquet").join(
        pl.read_parquet(Path(run_dir) / "clusters.parquet").select("call_id", "cluster"), on="call_id")
    rows = [r for r in calls.filter(pl.col("cluster") == cluster).sort("call_id").iter_rows(named=True)
            if heldout_part(r) is not None][:n]
    adir = Path(run_dir) / "adapters" / str(cluster)
    m, tok, info = load_adapter(adir, merge=True)
    outs = adapter_answer(adir, m, tok, info, [json.loads(r["request"]) for r in rows], "free_text")
    return outs, [target_text(json.loads(r["response"])) for r in rows]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("SLM_AGENTS_DATA_DIR"))
    ap.add_argument("--run-dir"); ap.add_argument("--cluster", type=int); ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    rows = papers(a.data_dir)
    cos = pairs(rows)
    out = {"papers": len(rows), "equivalent_at": EQUIVALENT,
           "pass_rate": {k: {str(t): round(float((v >= t).mean()), 4) for t in THRESHOLDS} for k, v in cos.items()},
           "cosine_percentiles": {k: np.percentile(v, [10, 25, 50, 75, 90]).round(3).tolist() for k, v in cos.items()}}
    rl = np.array([rouge_l(r["target"][0], [r["target"][1]]) for r in rows])
    same = cos["same paper, second human"] >= EQUIVALENT
    out["rouge_l_second_human"] = {"percentiles_10_25_50_75_90": np.percentile(rl, [10, 25, 50, 75, 90]).round(3).tolist(),
                                   "median_when_equivalent": round(float(np.median(rl[same])), 3),
                                   "median_when_not": round(float(np.median(rl[~same])), 3),
                                   "spearman_with_cosine": round(float(_spearman(rl, cos["same paper, second human"])), 3)}
    if a.run_dir:
        outs, logged = model_answers(a.run_dir, a.cluster, a.n)
        sem = np.array([semantic_match(o, [g]) for o, g in zip(outs, logged)])
        rls = np.array([rouge_l(o, [g]) for o, g in zip(outs, logged)])
        out["model"] = {"run_dir": a.run_dir, "cluster": a.cluster, "n": len(outs), "semantic_pass": round(float(sem.mean()), 4),
                        "rouge_l_mean": round(float(rls.mean()), 4),
                        "rouge_l_mean_when_pass": round(float(rls[sem == 1].mean()), 4) if sem.any() else None,
                        "rouge_l_mean_when_fail": round(float(rls[sem == 0].mean()), 4) if (sem == 0).any() else None,
                        "examples": [{"answer": o, "logged": g, "pass": bool(s), "rouge_l": round(float(r), 3)}
                                     for o, g, s, r in list(zip(outs, logged, sem, rls))[:6]]}
    Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/out/semantic_eval.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(json.dumps(out, indent=1, ensure_ascii=False))

def _spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]

if __name__ == "__main__":
    main()
