"""What pseudonymisation costs a specialist: `python benchmarks/pseudonym_utility.py LOG.parquet TASK [--n N]`.

The label head S4 fits (`select.fit_scaled_head`: logistic regression on the all-MiniLM-L6-v2 embedding of the user turn)
is fitted twice on the training calls of one label call site (`task`), once on the raw text and once on the curated text
(`curate.curate`, production defaults: every text of a call offered, surrogates from `faker`), and both heads are scored on
the same held-out calls (`router.heldout_part`, val and test together), raw and curated. Only calls that curation keeps
(duplicates set aside) are used, so all four cells see the same calls. Also reported: the share of calls whose user turn
curation changed, and of calls whose logged answer (the label) it changed. Writes `benchmarks/out/pseudonym_utility.json`."""
import argparse, json, time
from pathlib import Path
import numpy as np, polars as pl
from slm_agents.cluster import embed_texts, task_parts
from slm_agents.curate import curate
from slm_agents.router import heldout_part
from slm_agents.formats import target_text
from slm_agents.select import fit_scaled_head, head_classes, label_text, shared_embedder


def users(rows: list[dict]) -> list[str]: return [task_parts(json.loads(r["request"]))["user"] for r in rows]


def accuracy(head, emb, rows: list[dict], gold: list[str]) -> float:
    return round(float(np.mean([p == g for (p, _), g in zip(head.predict(embed_texts(emb, users(rows))), gold)])), 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("task")
    ap.add_argument("--n", type=int, default=None, help="at most this many calls (sorted by call id)")
    ap.add_argument("--out", default="benchmarks/out/pseudonym_utility.json")
    a = ap.parse_args()
    calls = pl.read_parquet(a.log).filter(pl.col("task") == a.task).sort("call_id")
    calls = calls.head(a.n) if a.n else calls
    t0 = time.perf_counter()
    cur, _, report = curate(calls, n_jobs=1)
    curate_s = time.perf_counter() - t0
    raw = {r["call_id"]: r for r in calls.iter_rows(named=True)}
    kept = cur.sort("call_id").to_dicts()
    data = {"raw": [raw[r["call_id"]] for r in kept], "curated": kept}
    train = [i for i, r in enumerate(kept) if heldout_part(r) is None]
    held = [i for i, r in enumerate(kept) if heldout_part(r) is not None]
    gold = [target_text(json.loads(data["raw"][i]["response"])) for i in range(len(kept))]   # labels are no PII
    emb, res = shared_embedder(), {}
    for fit_on in ("raw", "curated"):
        rows = [data[fit_on][i] for i in train]
        answers = [gold[i] for i in train]
        names = sorted(set(answers))
        head, _ = fit_scaled_head(embed_texts(emb, users(rows)), head_classes(answers, "label"),
                                  embed_texts(emb, [label_text(n) for n in names]), names, emb)
        for test_on in ("raw", "curated"):
            rows = [data[test_on][i] for i in held]
            res[f"fit_{fit_on}_test_{test_on}"] = accuracy(head, emb, rows, [gold[i] for i in held])
    changed = np.mean([u != v for u, v in zip(users(data["raw"]), users(data["curated"]))])
    answers_changed = np.mean([target_text(json.loads(r["response"])) != g for r, g in zip(kept, gold)])
    out = {"log": Path(a.log).stem, "task": a.task, "calls": len(calls), "kept": len(kept), "train": len(train),
           "heldout": len(held), "labels": len(set(gold)), "user_turn_changed": round(float(changed), 4),
           "answer_changed": round(float(answers_changed), 4),
           "pii_replaced": report["pii_replaced"], "curate_s": round(curate_s, 1), "accuracy": res}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
