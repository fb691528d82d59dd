"""Which answer confidence lets the router serve free-text answers at the retention target:
`python benchmarks/free_text_confidence.py LOG.parquet:TASK ... --n 80`.

For each free-text call site (the calls of `LOG` whose `task` is `TASK`), the base SmolLM2-135M answers the first `--n`
held-out calls (greedy, the request as logged), each answer is scored with the project's free-text metric
(`select.score_output`) and ROUGE-L, and two confidences are compared:
- `token`: the geometric-mean probability of the generated tokens (`models.generate_scored`);
- `grounding`: the highest cosine, on the shipped MiniLM, between the answer and one of the request's messages
  (`select.grounding`), i.e. whether the answer speaks of what the request gave it.
Reported per confidence: ROC AUC for "the answer is close to the LLM's", and the router's rule applied out of sample:
a threshold calibrated (`select.calibrate`, 95 % target, at least 5 accepted) on one half of the calls, applied to the
other half, both ways round (served share and retention on the half it was not set on). Writes
`benchmarks/out/free_text_confidence.json`."""
import argparse, json
from pathlib import Path
import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score
from slm_agents.models import generate_scored, load, prompt_text, render_messages
from slm_agents.formats import MAX_NEW
from slm_agents.select import CLOSE, _gold, calibrate, grounding, llm_score, rouge_l, score_output, split_of


def heldout(path: str, task: str, n: int) -> list[dict]:
    rows = pl.read_parquet(path).filter(pl.col("task") == task).sort("call_id").to_dicts()
    return [r for r in rows if split_of(r) == "test"][:n]


def out_of_sample(slm, llm, conf, valid) -> dict:
    "Served share and retention on each half with the threshold set on the other half, summed over both halves."
    idx = np.arange(len(slm))
    halves = [idx[: len(idx) // 2], idx[len(idx) // 2 :]]
    served = s = l = 0.0
    for fit, use in ((halves[0], halves[1]), (halves[1], halves[0])):
        pick = lambda xs, ids: [xs[i] for i in ids]
        cal = calibrate(pick(slm, fit), pick(llm, fit), pick(conf, fit), pick(valid, fit))
        if cal["threshold"] is None:
            continue
        ok = [i for i in use if valid[i] and conf[i] >= cal["threshold"]]
        served, s, l = served + len(ok), s + sum(slm[i] for i in ok), l + sum(llm[i] for i in ok)
    return {"served": round(served / len(slm), 4), "retention": round(s / l, 4) if l else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--out", default="benchmarks/out/free_text_confidence.json")
    a = ap.parse_args()
    model, tok = load(a.model)
    results = []
    for s in a.sites:
        path, task = s.rsplit(":", 1)
        rows = heldout(path, task, a.n)
        reqs = [json.loads(r["request"]) for r in rows]
        outs = generate_scored(model, tok, [prompt_text(tok, render_messages(q)) for q in reqs], MAX_NEW["free_text"])
        scored = [score_output("free_text", o, r) for (o, _), r in zip(outs, rows)]
        llm = [llm_score("free_text", r) for r in rows]
        slm = [sc for sc, _ in scored]
        valid = [v for _, v in scored]
        close = [int(sc >= CLOSE * lq) for sc, lq in zip(slm, llm)]
        confs = {"token": [c for _, c in outs], "grounding": grounding([o for o, _ in outs], reqs)}
        row = {"log": Path(path).stem, "task": task, "n": len(rows), "close": round(float(np.mean(close)), 4),
               "rouge_l": round(float(np.mean([rouge_l(o, _gold(r)[1]) for (o, _), r in zip(outs, rows)])), 4)}
        for name, conf in confs.items():
            auc = roc_auc_score(close, conf) if 0 < sum(close) < len(close) else None
            row[name] = {"auc": None if auc is None else round(auc, 3)} | out_of_sample(slm, llm, conf, valid)
        results.append(row)
        print(json.dumps(row), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "results": results}, indent=1))


if __name__ == "__main__":
    main()
