"""A span-tagging head for extractive JSON, against the bar the router sets: `python benchmarks/span_head.py RUN_DIR CLUSTER`.

For a JSON cluster whose answers list substrings of the user turn under fixed keys (entity extraction), a non-generative
specialist could tag tokens: logistic regression per token on the all-MiniLM-L6-v2 token vectors (with the neighbouring
tokens' vectors and four shape features, since the model is uncased), BIO tags per key, spans decoded back to the text.
Its confidence is the product of the tokens' top probabilities. It is fitted on the cluster's training calls; the
router's rule sets a threshold at 95 % of the LLM's quality on the validation calls and 5-fold out-of-fold answers to
the training calls, applied to the test calls. Reported: field F1 (`select.field_f1`, as S4/S5 score JSON) out of fold,
on validation and test; the test share served and its retention; and the best share any threshold could serve on the
test calls at 95 % (chosen on the test calls themselves: an upper bound). Writes `benchmarks/out/span_head.json`."""
import argparse, json, time
from pathlib import Path
import numpy as np, polars as pl, torch
from slm_agents.cluster import load_embedder
from slm_agents.select import _last_user, _softmax, calibrate, field_f1, parted_calls

def cluster_parts(run_dir, cluster: int) -> tuple[list[dict], list[dict], list[dict]]:
    "A run's cluster's calls: training, validation and test (`select.parted_calls`)."
    calls = parted_calls(run_dir).filter(pl.col("cluster") == cluster).sort("call_id")
    return tuple(calls.filter(pl.col("part").is_null() if p is None else pl.col("part") == p).to_dicts()
                 for p in (None, "val", "test"))

def answer_of(r) -> dict: return json.loads(json.loads(r["response"])["choices"][0]["message"]["content"])
def text_of(r) -> str: return _last_user(json.loads(r["request"]))

def token_features(st, texts: list[str]) -> list[tuple[list, np.ndarray]]:
    "Per text: the tokens' character spans, and each token's vector beside its neighbours' and its shape."
    tok, enc, out = st.tokenizer, st[0].auto_model.eval(), []
    for i in range(0, len(texts), 32):
        b = tok(texts[i:i + 32], return_offsets_mapping=True, truncation=True, max_length=256, padding=True,
                return_tensors="pt")
        off = b.pop("offset_mapping").tolist()
        with torch.no_grad():
            h = enc(**b).last_hidden_state.numpy()
        for j, t in enumerate(texts[i:i + 32]):
            keep = [k for k, (s, e) in enumerate(off[j]) if e > s]
            spans = [tuple(off[j][k]) for k in keep]
            H = h[j][keep]
            shape = np.array([[t[s:e][:1].isupper(), t[s:e].isupper() and e - s > 1,
                               any(ch.isdigit() for ch in t[s:e]), s == 0 or t[s - 1] == " "] for s, e in spans])
            zero = np.zeros((1, H.shape[1]))
            prev, nxt = np.vstack([zero, H[:-1]]), np.vstack([H[1:], zero])
            out.append((spans, np.hstack([H, prev, nxt, shape]).astype(np.float32)))
    return out

def bio(text: str, spans: list, answer: dict, keys: list[str]) -> list[str]:
    "Each token's tag: B-/I-key inside an occurrence of one of the answer's strings, else O."
    y = ["O"] * len(spans)
    for k in keys:
        for ent in answer.get(k, []):
            s = text.find(ent)
            if s < 0: continue
            inside = [i for i, (a, b) in enumerate(spans) if a >= s and b <= s + len(ent)]
            for n, i in enumerate(inside): y[i] = ("B-" if n == 0 else "I-") + k
    return y

def decode(text: str, spans: list, tags: list[str], keys: list[str]) -> dict:
    "The answer the tags spell: each run of B-/I- tags of one key, as the text it covers."
    out, cur = {k: [] for k in keys}, None
    for (s, e), tg in zip(spans, tags):
        if tg == "O":
            cur = None
            continue
        k = tg[2:]
        if cur is not None and cur[0] == k and (tg.startswith("I-") or s == cur[2]):   # wordpieces join the span
            cur = (k, cur[1], e)
            out[k][-1] = text[cur[1]:e]
        else:
            cur = (k, s, e)
            out[k].append(text[s:e])
    return out

class SpanHead:
    def __init__(self, keys, C=0.1):
        self.keys, self.C = keys, C
        self.tags = ["O"] + [f"{p}-{k}" for k in keys for p in "BI"]

    def fit(self, feats, texts, answers):
        from sklearn.linear_model import LogisticRegression
        X = np.vstack([f for _, f in feats])
        y = [self.tags.index(t) for (sp, _), tx, a in zip(feats, texts, answers) for t in bio(tx, sp, a, self.keys)]
        self.m = LogisticRegression(C=self.C, max_iter=2000).fit(X, y)
        return self

    def answer(self, feats, texts) -> list[tuple[str, float]]:
        res = []
        for (spans, X), t in zip(feats, texts):
            z = np.full((len(X), len(self.tags)), -1e9)
            z[:, self.m.classes_] = self.m.decision_function(X)
            p = _softmax(z)
            tags = [self.tags[i] for i in p.argmax(1)]
            res.append((json.dumps(decode(t, spans, tags, self.keys)), float(np.exp(np.log(p.max(1)).sum()))))
        return res

def best_share(conf, score, target=0.95) -> float:
    "The largest share of calls any confidence threshold serves at `target` mean score (chosen on these calls)."
    order, best, s = np.argsort(conf)[::-1], 0, 0.0
    for n, i in enumerate(order, 1):
        s += score[i]
        if s / n >= target: best = n
    return best / max(1, len(conf))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("cluster", type=int)
    ap.add_argument("--out", default="benchmarks/out/span_head.json")
    a = ap.parse_args()
    tr, va, te = cluster_parts(a.run_dir, a.cluster)
    keys = list(answer_of(tr[0]))
    st = load_embedder()
    texts = {id(r): text_of(r) for r in tr + va + te}
    F = dict(zip(texts, token_features(st, list(texts.values()))))
    feats = lambda rs: [F[id(r)] for r in rs]
    txt = lambda rs: [texts[id(r)] for r in rs]
    gold = lambda rs: [answer_of(r) for r in rs]
    t0 = time.perf_counter()
    oof = [None] * len(tr)
    for f in range(5):
        fit = [r for i, r in enumerate(tr) if i % 5 != f]
        held = [i for i in range(len(tr)) if i % 5 == f]
        head = SpanHead(keys).fit(feats(fit), txt(fit), gold(fit))
        for i, o in zip(held, head.answer(feats([tr[i] for i in held]), txt([tr[i] for i in held]))): oof[i] = o
    head = SpanHead(keys).fit(feats(tr), txt(tr), gold(tr))
    fit_s = time.perf_counter() - t0
    pv, pt = head.answer(feats(va), txt(va)), head.answer(feats(te), txt(te))
    f1 = lambda preds, rs: [field_f1(o, json.dumps(g)) for (o, _), g in zip(preds, gold(rs))]
    s_oof, s_v, s_t = f1(oof, tr), f1(pv, va), f1(pt, te)
    n = len(tr) + len(va)
    cal = calibrate(s_oof + s_v, [1.0] * n, [c for _, c in oof + pv], [True] * n)
    th = cal["threshold"]
    served = [s for s, (_, c) in zip(s_t, pt) if th is not None and c >= th]
    res = {"run": a.run_dir, "cluster": a.cluster, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
           "empty_share_test": float(np.mean([not any(g.values()) for g in gold(te)])),
           "fit_seconds_with_crossfit": round(fit_s, 1),
           "f1": {"oof": round(float(np.mean(s_oof)), 3), "val": round(float(np.mean(s_v)), 3),
                  "test": round(float(np.mean(s_t)), 3)},
           "calibration": cal, "test_served": round(len(served) / len(te), 3),
           "test_retention": round(float(np.mean(served)), 3) if served else None,
           "best_share_on_test": round(best_share([c for _, c in pt], s_t), 3)}
    print(json.dumps(res, indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
