"""Label heads with lexical features beside the MiniLM vector:
`python benchmarks/lexical_heads.py LOG.parquet:TASK ...`.

For each log's call site `TASK`, heads are fitted on the training calls (label names as extra examples, as S4 fits them)
and scored on every held-out call: S4's head (logistic regression, C = 100, on the unit MiniLM vector of the user turn);
the same on TF-IDF word 1–2-grams or character 2–5-grams; the MiniLM vector and the TF-IDF vector side by side in
one regression (the TF-IDF part weighted 0.5 or 1); and the two heads' probabilities averaged (arithmetic or geometric).
Reported: accuracy, and `served95`, the largest share of held-out calls, most probable first, whose accuracy is ≥ 95 %
(an upper bound: the threshold is picked on the calls it is scored on). Writes `benchmarks/out/lexical_heads.json`."""
import json, sys
from pathlib import Path
import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from encoder_specialists import served
from label_head_eval import site, users
from slm_agents.cluster import embed_texts
from slm_agents.formats import target_text
from slm_agents.select import _softmax, label_text, shared_embedder

def lr(X, y):
    return LogisticRegression(C=100.0, max_iter=3000).fit(X, y)

def evaluate(spec: str) -> dict:
    path, task = spec.split(":")
    parts = site(path, task)
    train, held = parts["train"], parts["val"] + parts["test"]
    y = [target_text(json.loads(r["response"])) for r in train]
    truth = [target_text(json.loads(r["response"])) for r in held]
    names = sorted(set(y))
    texts, held_texts = users(train) + [label_text(n) for n in names], users(held)
    emb = shared_embedder()
    E, He = embed_texts(emb, texts), embed_texts(emb, held_texts)
    res = {}
    def score(name, P, classes):
        right = [classes[i] == t for i, t in zip(P.argmax(1), truth)]
        res[name] = {"accuracy": round(float(np.mean(right)), 3), "served95": round(served(right, P.max(1)), 3)}
    m = lr(E, y + names)
    Pm = m.predict_proba(He)
    score("minilm", Pm, m.classes_)
    for kind, grams in (("word", (1, 2)), ("char_wb", (2, 5))):
        v = TfidfVectorizer(analyzer=kind, ngram_range=grams, sublinear_tf=True)
        T, Ht = v.fit_transform(texts), v.transform(held_texts)
        t = lr(T, y + names)
        Pt = t.predict_proba(Ht)
        score(f"tfidf_{kind}", Pt, t.classes_)
        for w in (0.5, 1.0):
            c = lr(hstack([csr_matrix(E), w * T]).tocsr(), y + names)
            score(f"minilm+tfidf_{kind}_w{w}", c.predict_proba(hstack([csr_matrix(He), w * Ht]).tocsr()), c.classes_)
        score(f"mean_{kind}", (Pm + Pt) / 2, m.classes_)
        score(f"geomean_{kind}", _softmax((np.log(Pm + 1e-9) + np.log(Pt + 1e-9)) / 2), m.classes_)
    return {"site": spec, "labels": len(names), "train": len(train), "held_out": len(held), "heads": res}

if __name__ == "__main__":
    out = [evaluate(s) for s in sys.argv[1:]]
    for o in out:
        print(o["site"], o["labels"], "labels,", o["train"], "training calls,", o["held_out"], "held out")
        for k, v in o["heads"].items(): print(f"  {k:28s} accuracy {v['accuracy']:.3f}  served95 {v['served95']:.3f}")
    Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/out/lexical_heads.json").write_text(json.dumps(out, indent=1))
