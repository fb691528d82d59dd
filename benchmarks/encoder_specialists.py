"""Encoder specialists beside the label head, on one run's clusters: how much of a cluster each could serve.

    python benchmarks/encoder_specialists.py RUN_DIR --label-cluster 0 --json-cluster 1 [--epochs 4 8]    # 0: frozen
        [--decoder-states qwen2.5-coder-0.5b-instruct]

For a closed label set: S4's label head (logistic regression on frozen MiniLM vectors), the label of the nearest training
call, and MiniLM fine-tuned end to end with a cosine classifier (and the label head refitted on its vectors). For a JSON
answer whose values are spans of the user turn (entity extraction): MiniLM fine-tuned as a BIO tagger on the logged
answers, aligned to the text, its answer rebuilt as the cluster's JSON. Every candidate trains on the run's training
calls and is scored on all held-out calls (S4's split) with S4's metric; `served` is the largest share of held-out calls,
most confident first, whose answers keep 95 % of the LLM's quality (the router's rule), with the threshold chosen on
those same calls: an upper bound on what a calibrated router could serve. With `--decoder-states M`, a closed label set
is also tried with a label head on a decoder's hidden states (mean over the request's tokens, and the last token's, at
the middle and the last layer; alone and beside the MiniLM vector), each standardised and fitted by the same logistic
regression as a MiniLM row fitted the same way.
"""
import argparse, copy, json, time
import numpy as np, polars as pl, torch
from slm_agents.cluster import embed_texts, load_embedder
from slm_agents.formats import _last_user, target_text
from slm_agents.select import field_f1, fit_scaled_head, label_text, parted_calls


def served(scores, conf, target=0.95) -> float:
    "Largest share of calls, most confident first, whose mean score is at least `target` (the LLM scores 1)."
    s = np.asarray(scores, dtype=float)[np.argsort(-np.asarray(conf))]
    ok = np.flatnonzero(np.cumsum(s) >= target * np.arange(1, len(s) + 1))
    return float((ok.max() + 1) / len(s)) if len(ok) else 0.0


def split(run_dir, cid):
    rows = parted_calls(run_dir).filter(pl.col("cluster") == cid).to_dicts()
    text = lambda r: _last_user(json.loads(r["request"]))
    ans = lambda r: target_text(json.loads(r["response"])).strip()
    tr, ho = [r for r in rows if r["part"] is None], [r for r in rows if r["part"] is not None]
    return [text(r) for r in tr], [ans(r) for r in tr], [text(r) for r in ho], [ans(r) for r in ho]


def pooled(model, tok, texts, max_length=64):
    b = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    h, a = model(**b).last_hidden_state, b["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * a).sum(1) / a.sum(1), dim=-1)


def trainable(emb, n_out: int, lr: float, steps: int):
    "(a copy of the embedder's encoder, a linear layer of `n_out` outputs, AdamW over both, warm-up then linear decay)."
    torch.manual_seed(0)
    m = copy.deepcopy(emb[0].auto_model)
    W = torch.nn.Linear(m.config.hidden_size, n_out)
    m.train()
    opt = torch.optim.AdamW(list(m.parameters()) + list(W.parameters()), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
    return m, W, opt, sched


def label_candidates(emb, Xtr, ytr, Xho, yho, epochs, lr=1e-4, bs=16, scale=20.0):
    out, names = [], sorted(set(ytr))
    def row(name, pred, conf, secs):
        ok = (np.array(pred) == np.array(yho)).astype(float)
        out.append({"candidate": name, "accuracy": round(ok.mean(), 4), "served_at_95": round(served(ok, conf), 4),
                    "fit_s": round(secs, 1)})
    t0 = time.perf_counter()
    vtr, vho = embed_texts(emb, Xtr), embed_texts(emb, Xho)
    nv = embed_texts(emb, [label_text(n) for n in names])
    head, _ = fit_scaled_head(vtr, ytr, nv, names)
    p = head.predict(vho)
    row("label head (frozen MiniLM)", [a for a, _ in p], [c for _, c in p], time.perf_counter() - t0)
    sims = vho @ vtr.T
    near = [ytr[j] for j in sims.argmax(1)]
    row("nearest training call", near, sims.max(1), 0.0)
    agree = np.array([a == b for (a, _), b in zip(p, near)], dtype=float)
    row("label head, calls where the nearest call agrees first", [a for a, _ in p],
        agree + np.array([c for _, c in p]), 0.0)
    idx = {n: i for i, n in enumerate(names)}
    X, Y = Xtr + [label_text(n) for n in names], [idx[y] for y in ytr] + list(range(len(names)))
    for ep in [e for e in epochs if e > 0]:           # --epochs 0: the frozen candidates only
        m, W, opt, sched = trainable(emb, len(names), lr, ep * -(-len(X) // bs))
        t0 = time.perf_counter()
        for e in range(ep):
            perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(e)).tolist()
            for i in range(0, len(X), bs):
                j = perm[i:i + bs]
                logits = scale * pooled(m, emb.tokenizer, [X[k] for k in j]) @ torch.nn.functional.normalize(W.weight, dim=-1).T
                loss = torch.nn.functional.cross_entropy(logits, torch.tensor([Y[k] for k in j]))
                opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        secs = time.perf_counter() - t0
        m.eval()
        with torch.no_grad():
            enc = lambda T: torch.cat([pooled(m, emb.tokenizer, T[i:i + 64]) for i in range(0, len(T), 64)])
            E = enc(Xho)
            P = torch.softmax(scale * E @ torch.nn.functional.normalize(W.weight, dim=-1).T, -1)
            Etr, En = enc(Xtr).numpy(), enc([label_text(n) for n in names]).numpy()
        c, k = P.max(-1)
        row(f"MiniLM fine-tuned, {ep} epochs", [names[i] for i in k.tolist()], c.numpy(), secs)
        h2, _ = fit_scaled_head(Etr, ytr, En, names)
        p2 = h2.predict(E.numpy())
        row(f"label head on the fine-tuned MiniLM ({ep} epochs)", [a for a, _ in p2], [c for _, c in p2], secs)
    return out


def decoder_states(name: str, texts: list[str], layers=(0.5, 1.0), bs: int = 32) -> dict[str, np.ndarray]:
    "Mean-pooled and last-token hidden states of decoder `name` at the given depths (fractions of its layers)."
    from transformers import AutoModel, AutoTokenizer
    from slm_agents.models import materialise
    path = materialise(name)
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "right"
    m = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    at = {f: round(f * m.config.num_hidden_layers) for f in layers}
    out = {f"{k} L{l}": [] for l in at.values() for k in ("mean", "last")}
    for i in range(0, len(texts), bs):
        b = tok([f"Customer message: {t}\nIntent:" for t in texts[i:i + bs]], padding=True, return_tensors="pt")
        with torch.no_grad(): hs = m(**b, output_hidden_states=True).hidden_states
        a = b["attention_mask"].unsqueeze(-1).float()
        end = b["attention_mask"].sum(1) - 1
        for l in at.values():
            out[f"mean L{l}"].append(((hs[l] * a).sum(1) / a.sum(1)).numpy())
            out[f"last L{l}"].append(hs[l][torch.arange(len(end)), end].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def state_candidates(name, Xtr, ytr, Xho, yho, vtr, vho):
    "Label heads on a decoder's hidden states, alone and beside MiniLM, beside MiniLM fitted the same way."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    t0 = time.perf_counter()
    Ftr, Fho = decoder_states(name, Xtr), decoder_states(name, Xho)
    secs = time.perf_counter() - t0
    out = []
    def row(label, A, B, s):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(A, ytr)
        P = clf.predict_proba(B)
        ok = (clf.classes_[P.argmax(1)] == np.array(yho)).astype(float)
        out.append({"candidate": label, "accuracy": round(ok.mean(), 4), "served_at_95": round(served(ok, P.max(1)), 4),
                    "fit_s": round(s, 1)})
    row("MiniLM, standardised", vtr, vho, 0.0)
    for k in Ftr:
        row(f"{name} {k}", Ftr[k], Fho[k], secs)
        row(f"{name} {k} + MiniLM", np.hstack([Ftr[k], 10 * vtr]), np.hstack([Fho[k], 10 * vho]), secs)
    return out


def span_candidate(emb, Xtr, ytr, Xho, yho, epochs, lr=3e-4, o_weight=0.2, bs=16):
    tok, keys = emb.tokenizer, list(json.loads(ytr[0]))
    tags = ["O"] + [f"{p}-{k}" for k in keys for p in "BI"]
    def encode(text, gold=None):
        b = tok(text, truncation=True, max_length=128, return_offsets_mapping=True)
        lab = [-100] + [0] * (len(b["input_ids"]) - 2) + [-100]
        for k, vals in (gold or {}).items():
            for v in vals:
                s = text.find(v)
                if s < 0: continue
                first = True
                for i, (a, z) in enumerate(b["offset_mapping"]):
                    if a < z and a >= s and z <= s + len(v):
                        lab[i], first = tags.index(("B-" if first else "I-") + k), False
        return b, lab
    data = [encode(t, json.loads(y)) for t, y in zip(Xtr, ytr)]
    out = []
    for ep in [e for e in epochs if e > 0]:           # --epochs 0: the frozen candidates only
        m, W, opt, sched = trainable(emb, len(tags), lr, ep * -(-len(data) // bs))
        t0 = time.perf_counter()
        weight = torch.ones(len(tags))
        weight[0] = o_weight
        for e in range(ep):
            perm = np.random.RandomState(e).permutation(len(data))
            for i in range(0, len(perm), bs):
                items = [data[j] for j in perm[i:i + bs]]
                L = max(len(b["input_ids"]) for b, _ in items)
                ids = torch.tensor([b["input_ids"] + [0] * (L - len(b["input_ids"])) for b, _ in items])
                mask = (ids != 0) | (torch.arange(L) == 0)
                y = torch.tensor([l + [-100] * (L - len(l)) for _, l in items])
                logits = W(m(input_ids=ids, attention_mask=mask.long()).last_hidden_state)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(tags)), y.reshape(-1), weight=weight)
                opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        secs = time.perf_counter() - t0
        m.eval()
        scores, conf = [], []
        for text, gold in zip(Xho, yho):
            b, _ = encode(text)
            with torch.no_grad():
                p = torch.softmax(W(m(input_ids=torch.tensor([b["input_ids"]])).last_hidden_state)[0], -1)
            pc, k = p.max(-1)
            spans, cur = {kk: [] for kk in keys}, None
            for i, (a, z) in enumerate(b["offset_mapping"]):
                t = tags[k[i]] if a < z else "O"
                if t == "O": cur = None; continue
                if t.startswith("B-") or cur is None or cur[0] != t[2:]:
                    cur = [t[2:], a, z]
                    spans[t[2:]].append(cur)
                else: cur[2] = z
            answer = json.dumps({kk: [text[a:z] for _, a, z in v] for kk, v in spans.items()})
            scores.append(field_f1(answer, gold))
            conf.append(float(pc[1:-1].min()) if len(pc) > 2 else 1.0)
        out.append({"candidate": f"MiniLM BIO tagger, {ep} epochs", "field_f1": round(float(np.mean(scores)), 4),
                    "exact": round(float(np.mean(np.array(scores) == 1.0)), 4),
                    "served_at_95": round(served(scores, conf), 4), "fit_s": round(secs, 1)})
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--label-cluster", type=int)
    ap.add_argument("--json-cluster", type=int)
    ap.add_argument("--epochs", type=int, nargs="+", default=[4])
    ap.add_argument("--decoder-states", default=None, help="also a label head on this decoder's hidden states")
    a = ap.parse_args()
    torch.set_num_threads(2)
    emb = load_embedder()
    if a.label_cluster is not None:
        Xtr, ytr, Xho, yho = split(a.run_dir, a.label_cluster)
        print(f"labels: {len(Xtr)} training, {len(Xho)} held-out calls, {len(set(ytr))} labels")
        print(pl.DataFrame(label_candidates(emb, Xtr, ytr, Xho, yho, a.epochs)))
        if a.decoder_states:
            vtr, vho = embed_texts(emb, Xtr), embed_texts(emb, Xho)
            print(pl.DataFrame(state_candidates(a.decoder_states, Xtr, ytr, Xho, yho, vtr, vho)))
    if a.json_cluster is not None:
        Xtr, ytr, Xho, yho = split(a.run_dir, a.json_cluster)
        empty = np.mean([not any(json.loads(y).values()) for y in yho])
        print(f"json: {len(Xtr)} training, {len(Xho)} held-out calls, {empty:.0%} of held-out answers empty")
        print(pl.DataFrame(span_candidate(emb, Xtr, ytr, Xho, yho, [max(a.epochs), 2 * max(a.epochs)])))
