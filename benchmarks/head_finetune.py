"""What more than a linear head buys at a label site: `python benchmarks/head_finetune.py RUN_DIR CLUSTER [--epochs 4]`.

Two ways a label head could serve more of its calls at 95 % of the LLM's quality, side by side on one run's label
cluster (its training calls, and the router's validation and test halves):
1. more folds in the cross-fit the router calibrates on (`select.cross_fit`, k = 5 / 10 / 20): the same head (S4's
   `LabelHead` with the label names as examples), its threshold set on out-of-fold answers plus the validation calls;
2. fine-tuning the all-MiniLM-L6-v2 encoder end to end under a linear layer started from S4's head (cross-entropy,
   AdamW, batch 16, encoder rate `--lr`), scored after each epoch; its threshold on the validation calls alone.
Reported per variant: test accuracy, the share of test calls served at the calibrated threshold and their retention,
and the best share any threshold could serve on the test calls at 95 % (chosen on them: an upper bound), with the seconds
each took. Writes `benchmarks/out/head_finetune.json`."""
import argparse, json, time
from pathlib import Path
import numpy as np, torch
from slm_agents.cluster import embed_texts, load_embedder
from slm_agents.select import LabelHead, _last_user, calibrate, cross_fit, label_text
from span_head import best_share, cluster_parts

def served(preds, gold, th) -> tuple[float, float | None]:
    "(share of calls whose confidence reaches `th`, their accuracy)."
    ok = [p == g for (p, c), g in zip(preds, gold) if th is not None and c >= th]
    return round(len(ok) / len(gold), 3), (round(float(np.mean(ok)), 3) if ok else None)

def row(name, pt, gold_t, th, seconds) -> dict:
    share, kept = served(pt, gold_t, th)
    right = [float(p == g) for (p, _), g in zip(pt, gold_t)]
    return {"variant": name, "test_accuracy": round(float(np.mean(right)), 3), "served": share, "retention": kept,
            "best_share": round(best_share([c for _, c in pt], right), 3), "seconds": round(seconds, 1)}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("cluster", type=int)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--folds", type=int, nargs="*", default=[5, 10, 20])
    ap.add_argument("--out", default="benchmarks/out/head_finetune.json")
    a = ap.parse_args()
    torch.manual_seed(0)
    tr, va, te = cluster_parts(a.run_dir, a.cluster)
    ans = lambda rs: [json.loads(r["response"])["choices"][0]["message"]["content"].strip() for r in rs]
    txt = lambda rs: [_last_user(json.loads(r["request"])) for r in rs]
    y, gv, gt = ans(tr), ans(va), ans(te)
    labels = sorted(set(y))
    st = load_embedder()
    tv, vv, ev = (embed_texts(st, txt(rs)) for rs in (tr, va, te))
    nv = embed_texts(st, [label_text(l) for l in labels])
    head = LabelHead.fit(np.vstack([tv, nv]), y + labels)
    rows = []
    for k in a.folds:                                    # 1. the router's calibration with more folds
        t0 = time.perf_counter()
        cf = cross_fit(tv, y, nv, labels, k=k)
        head.temperature = cf.temperature
        pv, pt = head.predict(vv), head.predict(ev)
        right = [float(p == g) for (p, _), g in zip(cf.answers + pv, y + gv)]
        cal = calibrate(right, [1.0] * len(right), [c for _, c in cf.answers + pv], [True] * len(right))
        rows.append(row(f"linear head, cross-fit k={k}", pt, gt, cal["threshold"], time.perf_counter() - t0))
        print(json.dumps(rows[-1]), flush=True)
    head.temperature = 1.0                               # 2. the encoder fine-tuned under the head
    clf = torch.nn.Linear(vv.shape[1], len(labels))
    with torch.no_grad():
        clf.weight.copy_(torch.tensor(head.coef, dtype=torch.float32))
        clf.bias.copy_(torch.tensor(head.intercept, dtype=torch.float32))
    X, Y = txt(tr) + [label_text(l) for l in labels], [labels.index(l) for l in y] + list(range(len(labels)))
    opt = torch.optim.AdamW([{"params": st.parameters(), "lr": a.lr}, {"params": clf.parameters(), "lr": 1e-3}])
    logits = lambda texts: clf(st(st.tokenize(texts))["sentence_embedding"])
    def predict(texts):
        st.eval()
        with torch.no_grad():
            p = torch.cat([logits(texts[i:i + 64]) for i in range(0, len(texts), 64)]).softmax(-1).numpy()
        return [(labels[int(j)], float(p[i, j])) for i, j in enumerate(p.argmax(1))]
    t0 = time.perf_counter()
    for ep in range(a.epochs):
        st.train()
        for b in np.array_split(np.random.default_rng(ep).permutation(len(X)), max(1, len(X) // 16)):
            loss = torch.nn.functional.cross_entropy(logits([X[i] for i in b]), torch.tensor([Y[i] for i in b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        spent = time.perf_counter() - t0
        pv, pt = predict(txt(va)), predict(txt(te))
        right = [float(p == g) for (p, _), g in zip(pv, gv)]
        cal = calibrate(right, [1.0] * len(right), [c for _, c in pv], [True] * len(right))
        rows.append(row(f"encoder fine-tuned, epoch {ep + 1}", pt, gt, cal["threshold"], spent))
        print(json.dumps(rows[-1]), flush=True)
    res = {"run": a.run_dir, "cluster": a.cluster, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
           "labels": len(labels), "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
