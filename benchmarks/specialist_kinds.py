"""Every kind of specialist side by side on the same held-out calls of a label call site:
`python benchmarks/specialist_kinds.py LOG.parquet:TASK ... [--n 40] [--models M ...] [--shots 2]`.

Kinds: S4's label head (logistic regression on the all-MiniLM-L6-v2 vector of the user turn, label names as examples,
temperature from cross-fitting), the label of the nearest training call, and each decoder untrained with `--shots`
retrieved examples (S4's few-shot prompt: the whole request), decoded free and within the label set (xgrammar), served on
llama.cpp from the GGUF file its package ships. Each answers the first `--n` test calls one at a time (batch 1, as a
gateway request arrives), timed per call. Reported per kind: accuracy against the logged answer, valid-output rate, p50
and p99 milliseconds a call, the share of calls it could serve at 95 % of the LLM's quality (most confident first, the
threshold chosen on these same calls: an upper bound for a calibrated router), what making it cost (fit seconds), what a
call costs on the LLM and routed (the specialist answers every call; the LLM those it does not serve), and the calls after
which the specialist has paid for itself (`evaluate.break_even`, the price assumptions of `EvaluateConfig`: USD 2.50 / 10.00
per 1M LLM tokens in / out, USD 0.10 an hour for the SLM's machine). Writes `benchmarks/out/specialist_kinds.json`.
"""
import argparse, json, time
from pathlib import Path
import numpy as np, polars as pl
from bfcl_candidates import engine_model
from encoder_specialists import served
from label_head_eval import site, users
from slm_agents.cluster import embed_texts
from slm_agents.evaluate import EvaluateConfig, break_even
from slm_agents.formats import MAX_NEW, nearest, target_text
from slm_agents.models import answer_constraint, generate_scored, load_tokenizer, materialise, prompt_text, render_messages
from slm_agents.select import _baseline_prompt, fit_scaled_head, head_classes, label_text, score_output, shared_embedder

PRICES = EvaluateConfig()                # the LLM's and the SLM machine's prices the report assumes


def timed(fn, items) -> tuple[list, list[float]]:
    "fn(item) for each item, one at a time: (results, milliseconds each)."
    out, ms = [], []
    for x in items:
        t0 = time.perf_counter()
        out.append(fn(x))
        ms.append((time.perf_counter() - t0) * 1000)
    return out, ms


def llm_usd(rows, tok) -> float:
    "Mean LLM price of a call: the request as sent in, the logged answer out."
    tin = [len(tok(prompt_text(tok, render_messages(json.loads(r["request"]))))["input_ids"]) for r in rows]
    tout = [len(tok(target_text(json.loads(r["response"])))["input_ids"]) for r in rows]
    return float(np.mean(tin) * PRICES.llm_usd_per_1m_in + np.mean(tout) * PRICES.llm_usd_per_1m_out) / 1e6


def row(kind, answers, conf, ms, rows, labels, fit_s, llm_cost) -> dict:
    "One kind's line of the table."
    scored = [score_output("label", a, r, labels) for a, r in zip(answers, rows)]
    ok = np.array([s for s, _ in scored], dtype=float)
    share = served(ok, conf)
    slm_cost = float(np.median(ms)) / 1000 / 3600 * PRICES.slm_usd_per_hour
    routed = slm_cost + (1 - share) * llm_cost
    return {"kind": kind, "n": len(rows), "accuracy": round(ok.mean(), 4),
            "valid": round(float(np.mean([v for _, v in scored])), 4), "served_at_95": round(share, 4),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "slm_usd_per_1k": round(1000 * slm_cost, 6), "llm_usd_per_1k": round(1000 * llm_cost, 4),
            "routed_usd_per_1k": round(1000 * routed, 4)} | break_even(fit_s, llm_cost, routed, PRICES.slm_usd_per_hour)


def kinds(path: str, task: str, n: int, models: list[str], shots: int, threads: int | None) -> list[dict]:
    parts, emb = site(path, task), shared_embedder()
    train, test = parts["train"], parts["test"][:n]
    answers = [target_text(json.loads(r["response"])) for r in train]
    labels, names = set(answers), sorted(set(answers))
    reqs = [json.loads(r["request"]) for r in test]
    llm_cost = llm_usd(test, load_tokenizer(materialise("smollm2-135m-instruct")))
    out = []
    t0 = time.perf_counter()
    tv, y = embed_texts(emb, users(train)), head_classes(answers, "label")
    head, _ = fit_scaled_head(tv, y, embed_texts(emb, [label_text(x) for x in names]), names, emb)
    fit_s = time.perf_counter() - t0
    head.answer(reqs[:1])                                          # the embedder warm, as a running gateway has it
    preds, ms = timed(lambda q: head.answer([q])[0], reqs)
    out.append(row("label head (MiniLM)", [a for a, _ in preds], [c for _, c in preds], ms, test, labels, fit_s, llm_cost))
    def nearest_label(text):
        return answers[int((embed_texts(emb, [text]) @ tv.T).argmax())]
    near, ms = timed(nearest_label, users(test))
    hv = embed_texts(emb, users(test))
    out.append(row("nearest training call", near, (hv @ tv.T).max(1), ms, test, labels, 0.0, llm_cost))
    pair = lambda j: (json.loads(train[j]["request"]), answers[j])
    shot_lists = [[pair(j) for j in js] for js in nearest(tv, hv, shots)] if shots else [[] for _ in reqs]
    for name in models:
        model, tok = engine_model(name, "llama.cpp", threads)
        prompts = [_baseline_prompt(tok, q, s, 2048) for q, s in zip(reqs, shot_lists)]
        for constrained in (False, True):
            cons = [answer_constraint("label", q, labels) if constrained else None for q in reqs]
            gen = lambda i: generate_scored(model, tok, [prompts[i]], MAX_NEW["label"], 1, constraints=[cons[i]])[0]
            res, ms = timed(gen, range(len(reqs)))
            kind = f"{name}, untrained, {shots} examples, {'constrained' if constrained else 'free'}"
            out.append(row(kind, [a.strip() for a, _ in res], [c for _, c in res], ms, test, labels, 0.0, llm_cost))
        del model
    for r in out: r |= {"log": Path(path).stem, "task": task}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--models", nargs="*", default=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/out/specialist_kinds.json")
    a = ap.parse_args()
    rows = [r for s in a.sites for r in kinds(*s.rsplit(":", 1), a.n, a.models, a.shots, a.threads)]
    with pl.Config(tbl_cols=-1, tbl_width_chars=200):
        print(pl.DataFrame(rows).drop("log", "train_usd"))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
