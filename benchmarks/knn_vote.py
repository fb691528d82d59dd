"""A soft vote of the nearest training calls beside S4's label head: `python benchmarks/knn_vote.py LOG.parquet:TASK ...`.

Three answerers per label site, each with its threshold calibrated as the router calibrates a head's (the validation
half plus out-of-fold answers to the training calls, same 5 folds; 95 % of the LLM's quality with the served answers'
floor) and applied to the test half: S4's head (`fit_scaled_head`); a similarity-weighted vote of the `k` nearest
training calls (weights exp(cosine / tau)); and the mean of the two distributions. `k` and `tau` are fixed in advance,
not chosen on any log. Also the best share any threshold serves on the test half (chosen on it: an upper bound)."""
import argparse, json
import numpy as np
from label_head_eval import site, users
from slm_agents.cluster import embed_texts
from slm_agents.formats import target_text
from slm_agents.select import LabelHead, _softmax, calibrate, fit_scaled_head, label_text, shared_embedder

def vote(q: np.ndarray, tv: np.ndarray, y: list[str], labels: list[str], k: int, tau: float) -> np.ndarray:
    "Each query's distribution over `labels`: its `k` nearest training calls, weighted by exp(cosine / tau)."
    sims = q @ tv.T
    near = np.argsort(-sims, axis=1)[:, :k]
    at = {l: i for i, l in enumerate(labels)}
    P = np.zeros((len(q), len(labels)))
    for r, idx in enumerate(near):
        w = np.exp((sims[r, idx] - sims[r, idx].max()) / tau)
        for j, wj in zip(idx, w): P[r, at[y[j]]] += wj
    return P / P.sum(1, keepdims=True)

def head_dist(head: LabelHead, vecs: np.ndarray, labels: list[str]) -> np.ndarray:
    "The head's temperature-scaled distribution over `labels`."
    p = _softmax(head.logits(vecs) / head.temperature)
    out = np.zeros((len(vecs), len(labels)))
    for c, l in enumerate(head.labels): out[:, labels.index(l)] = p[:, c]
    return out

def answers(P: np.ndarray, labels: list[str]) -> list[tuple[str, float]]:
    return [(labels[i], float(P[r, i])) for r, i in enumerate(P.argmax(1))]

def judge(cal: list[tuple[str, float]], cal_truth: list[str], test: list[tuple[str, float]], truth: list[str]) -> dict:
    "Test share served and retention at the threshold calibrated on `cal`; the best share chosen on the test half."
    right = lambda a, t: [float(p == x) for (p, _), x in zip(a, t)]
    c = calibrate(right(cal, cal_truth), [1.0] * len(cal), [p for _, p in cal], [True] * len(cal))
    s, conf = np.array(right(test, truth)), np.array([p for _, p in test])
    on = conf >= c["threshold"] if c["threshold"] is not None else np.zeros(len(s), bool)
    best = calibrate(s.tolist(), [1.0] * len(s), conf.tolist(), [True] * len(s))["coverage"]
    return {"accuracy": round(float(s.mean()), 3), "served": round(float(on.mean()), 3),
            "retention": round(float((s[on].sum() + (~on).sum()) / len(s)), 3), "best_share": best}

def evaluate(path: str, task: str, k: int, tau: float, folds: int = 5) -> dict:
    parts, emb = site(path, task), shared_embedder()
    y = [target_text(json.loads(r["response"])) for r in parts["train"]]
    tv = embed_texts(emb, users(parts["train"]))
    labels = sorted(set(y))
    nv = embed_texts(emb, [label_text(n) for n in labels])
    head, cf = fit_scaled_head(tv, y, nv, labels, emb)
    held = {n: embed_texts(emb, users(parts[n])) for n in ("val", "test")}
    truth = {n: [target_text(json.loads(r["response"])) for r in parts[n]] for n in held}
    fold = np.arange(len(y)) % folds
    oof_vote, oof_head = np.zeros((len(y), len(labels))), np.zeros((len(y), len(labels)))
    for f in range(folds):
        m, rest = fold == f, np.flatnonzero(fold != f)
        oof_vote[m] = vote(tv[m], tv[rest], [y[i] for i in rest], labels, k, tau)
        h = LabelHead.fit(np.vstack([tv[rest], nv]), [y[i] for i in rest] + labels)
        h.temperature = cf.temperature
        oof_head[m] = head_dist(h, tv[m], labels)
    dists = {n: (head_dist(head, held[n], labels), vote(held[n], tv, y, labels, k, tau)) for n in held}
    out = {"log": path.split("/")[-1], "task": task, "train": len(y), "test": len(truth["test"]),
           "per_label_median": float(np.median(np.unique(y, return_counts=True)[1]))}
    for kind, pick in {"head": lambda h, v: h, "vote": lambda h, v: v, "mean": lambda h, v: (h + v) / 2}.items():
        cal = answers(pick(*dists["val"]), labels) + answers(pick(oof_head, oof_vote), labels)
        out[kind] = judge(cal, truth["val"] + y, answers(pick(*dists["test"]), labels), truth["test"])
    return out

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tau", type=float, default=0.05)
    a = ap.parse_args()
    for s in a.sites: print(json.dumps(evaluate(*s.rsplit(":", 1), a.k, a.tau)), flush=True)
