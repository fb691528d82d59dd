"""Label heads on the label call sites of several logs: `python benchmarks/label_head_eval.py LOG.parquet:TASK ...`.

For each log's call site `TASK` (calls with that `task`), the head S4 fits (`LabelHead`: logistic regression on the
all-MiniLM-L6-v2 embedding of the user turn) is fitted on the training calls; the router's answer threshold is calibrated
on the validation half of the held-out calls (`heldout_part`, target 95 % of the LLM's quality) and applied to the test
half. Reported: labels, training calls per label, accuracy, expected calibration error of the head's probability on the
held-out calls, the share of test calls served at that threshold and their
retention, the fit time, and the serving time per call at batch 1 beside the base 135M decoder writing the label for the
same calls in the same run (`--decoder N`: N calls; its answers are not scored, only timed). Each site is run with the label
names as extra training examples (as S4 fits heads) and without them, and with the threshold calibrated on the validation
half alone or on it and the training calls' cross-fitted (out-of-fold) answers (as the router calibrates heads), side by side.
A fourth variant ranks the head's answers by agreement too: its confidence becomes the probability, fitted on the
cross-fitted answers (logistic regression on the head's log-odds and on whether the label of the nearest training call
outside the answer's fold agrees), that the answer is right; held-out calls use their nearest training call.
Writes `benchmarks/out/label_heads.json`."""
import argparse, json, statistics, time
from pathlib import Path
import numpy as np, polars as pl
from slm_agents.cluster import embed_texts, task_parts
from slm_agents.router import heldout_part
from slm_agents.formats import MAX_NEW, target_text
from slm_agents.select import (LabelHead, calibrate, fit_scaled_head, head_classes, head_scores, label_text,
                               shared_embedder)

def site(path: str, task: str) -> dict[str, list[dict]]:
    "The call site's calls by part: train, val, test."
    rows = pl.read_parquet(path).filter(pl.col("task") == task).sort("call_id").to_dicts()
    parts = {"train": [], "val": [], "test": []}
    for r in rows: parts[heldout_part(r) or "train"].append(r)
    return parts

def users(rows): return [task_parts(json.loads(r["request"]))["user"] for r in rows]

def serve_ms(head: LabelHead, rows: list[dict]) -> float:
    "Median milliseconds to answer one call (embedding included), a call at a time."
    ms = []
    for r in rows:
        t0 = time.perf_counter(); head.answer([json.loads(r["request"])]); ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms)

def decoder_ms(rows: list[dict]) -> float:
    "Median milliseconds for the base 135M decoder to write a label for one call (zero-shot prompt), a call at a time."
    from slm_agents.models import fit_messages, generate, load, prompt_text, render_messages
    model, tok = load("smollm2-135m-instruct")
    ms = []
    for r in rows:
        p = prompt_text(tok, fit_messages(tok, render_messages(json.loads(r["request"])), 2048))
        t0 = time.perf_counter(); generate(model, tok, [p], MAX_NEW["label"], 1); ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms)

def ece(conf: list[float], right: list[float], bins: int = 10) -> float:
    "Expected calibration error: the gap between confidence and accuracy, averaged over 10 equal-width confidence bins."
    conf, right = np.asarray(conf), np.asarray(right, dtype=float)
    edges = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum((edges == b).mean() * abs(conf[edges == b].mean() - right[edges == b].mean())
                     for b in range(bins) if (edges == b).any()))

def oof_nearest(vecs: np.ndarray, y: list[str], k: int = 5) -> list[str]:
    "Label of each training call's nearest training call outside its cross-fitting fold (`cross_fit`'s folds)."
    folds = np.arange(len(y)) % k
    sims = vecs @ vecs.T
    sims[folds[:, None] == folds[None, :]] = -np.inf
    return [y[j] for j in sims.argmax(1)]

def _log_odds(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))

def agreement_model(answers: list[tuple[str, float]], near: list[str], truth: list[str]):
    "P(answer right | log-odds of its probability, nearest call agrees), fitted on cross-fitted answers."
    from sklearn.linear_model import LogisticRegression
    X = np.c_[_log_odds([c for _, c in answers]), [a == b for (a, _), b in zip(answers, near)]]
    m = LogisticRegression().fit(X, [a == t for (a, _), t in zip(answers, truth)])
    def rescore(preds, nearest):
        Z = np.c_[_log_odds([c for _, c in preds]), [a == b for (a, _), b in zip(preds, nearest)]]
        return [(a, float(c)) for (a, _), c in zip(preds, m.predict_proba(Z)[:, 1])]
    return rescore, m.coef_[0].round(3).tolist()

def capped(rows: list[dict], cap: int, seed: int = 0) -> list[dict]:
    "At most `cap` calls of each logged label, drawn at random (seeded)."
    rng, kept, seen = np.random.default_rng(seed), [], {}
    for i in rng.permutation(len(rows)):
        a = target_text(json.loads(rows[i]["response"]))
        seen[a] = seen.get(a, 0) + 1
        if seen[a] <= cap: kept.append(rows[i])
    return sorted(kept, key=lambda r: r["call_id"])

def evaluate(path: str, task: str, n_decoder: int, label_names: bool = True, crossfit: bool = True,
             agree: bool = False, cap: int | None = None) -> dict:
    "One call site, with or without the label names as extra examples, the cross-fitted answers, agreement."
    parts, emb = site(path, task), shared_embedder()
    if cap: parts["train"] = capped(parts["train"], cap)
    answers = [target_text(json.loads(r["response"])) for r in parts["train"]]
    t0 = time.perf_counter()
    tv, y = embed_texts(emb, users(parts["train"])), head_classes(answers, "label")
    names = sorted(set(answers)) if label_names else []
    nv = embed_texts(emb, [label_text(n) for n in names]) if names else None
    head, cf = fit_scaled_head(tv, y, nv, names, emb)     # the head and its cross-fitted answers, at one temperature
    fit_s = time.perf_counter() - t0
    labels, cf_answers, coef = set(answers), cf.answers, None
    held = {n: embed_texts(emb, users(parts[n])) for n in ("val", "test")}
    preds = {n: head.predict(held[n]) for n in held}
    if agree:
        near = oof_nearest(tv, y)
        rescore, coef = agreement_model(cf.answers, near, y)
        cf_answers = rescore(cf.answers, near)
        preds = {n: rescore(preds[n], [y[j] for j in (held[n] @ tv.T).argmax(1)]) for n in held}
    v, t = (head_scores(preds[n], parts[n], "label", labels) for n in ("val", "test"))
    cal_on = {k: list(v[k]) for k in v}
    if crossfit:
        extra = head_scores(cf_answers, parts["train"], "label", labels)
        cal_on = {k: cal_on[k] + extra[k] for k in cal_on}
    cal = calibrate(cal_on["slm"], cal_on["llm"], cal_on["conf"], cal_on["valid"], 0.95, 5)
    served = [c >= cal["threshold"] for c in t["conf"]] if cal["threshold"] is not None else [False] * len(t["conf"])
    q = sum(s if on else l for s, l, on in zip(t["slm"], t["llm"], served))
    per_label = list(pl.Series(answers).value_counts()["count"])
    res = {"log": Path(path).stem, "task": task, "label_names": label_names, "crossfit": crossfit, "agree": agree,
           "agreement_coef": coef, "cap": cap, "labels": len(labels),
           "train": len(answers), "train_per_label_median": statistics.median(per_label), "val": len(v["slm"]),
           "calibrated_on": len(cal_on["slm"]), "test": len(t["slm"]),
           "accuracy_test": round(float(np.mean(t["slm"])), 4), "threshold": cal["threshold"],
           "ece_heldout": round(ece(v["conf"] + t["conf"], v["slm"] + t["slm"]), 3),
           "served_test": round(float(np.mean(served)), 4),
           "accuracy_served": round(float(np.mean([s for s, on in zip(t["slm"], served) if on])), 4) if any(served) else None,
           "retention_test": round(q / sum(t["llm"]), 4), "fit_seconds": round(fit_s, 2),
           "head_ms_per_call": round(serve_ms(head, parts["test"][:50]), 2)}
    if n_decoder:
        res["decoder_ms_per_call"] = round(decoder_ms(parts["test"][:n_decoder]), 1)
        res["decoder_over_head"] = round(res["decoder_ms_per_call"] / res["head_ms_per_call"], 1)
    return res

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK")
    ap.add_argument("--decoder", type=int, default=0, help="calls to time the base decoder on, per site")
    ap.add_argument("--out", default="benchmarks/out/label_heads.json")
    a = ap.parse_args()
    variants = [(True, True, False), (True, False, False), (False, False, False), (True, True, True)]
    # (label names, cross-fit, agreement): S4's way first
    results = [evaluate(*s.rsplit(":", 1), a.decoder if i == 0 else 0, *v)
               for s in a.sites for i, v in enumerate(variants)]
    for r in results: print(json.dumps(r))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1))
