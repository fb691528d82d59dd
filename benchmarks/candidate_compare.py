"""Decoder candidates side by side on call sites of dev logs, as S4 measures them:
`python benchmarks/candidate_compare.py LOG.parquet:TASK:FORMAT ... --models smollm2-135m-instruct qwen2.5-coder-0.5b-instruct`.

For each call site (the calls of `LOG` whose `task` is `TASK`, scored as `FORMAT`), each model answers the first `--n`
held-out calls zero-shot and with the 3 nearest training calls as examples (`select.evaluate_candidate`, S4's own code:
score, valid-output rate, share of answers close to the LLM's, seconds per call at batch 8). With `--probe-steps`, the
seconds of one LoRA step of S5's default `TrainConfig` on the site's own training calls (`finetune.probe_seconds`)
for each model, side by side in the same run. With `--resample K`, how stable S4's choice is: K draws (with
replacement) of `--k` of the answered calls, the same calls for every model, each decided by `select.choose_decoder` as
S4 decides on its common calls; the share of draws that picks each model. Writes `benchmarks/out/candidates.json`."""
import argparse, json, time
from pathlib import Path
import polars as pl
from slm_agents.cluster import embed_texts
from slm_agents.finetune import TrainConfig, probe_seconds
from slm_agents.models import load
from slm_agents.formats import _last_user, nearest, target_text
from slm_agents.select import MODES, choose_decoder, evaluate_candidate, shared_embedder, split_of


def site(path: str, task: str, n: int) -> tuple[list[dict], list[dict]]:
    "(training calls, the first `n` held-out calls) of one call site."
    rows = pl.read_parquet(path).filter(pl.col("task") == task).sort("call_id").to_dicts()
    train = [r for r in rows if split_of(r) == "train"]
    return train, [r for r in rows if split_of(r) == "test"][:n]


def shots_for(train: list[dict], test: list[dict], k: int) -> list[list[tuple[dict, str]]]:
    "The `k` nearest training calls of each held-out call, as S4 retrieves them."
    emb = shared_embedder()
    tv = embed_texts(emb, [_last_user(json.loads(r["request"])) for r in train])
    qv = embed_texts(emb, [_last_user(json.loads(r["request"])) for r in test])
    pick = lambda j: (json.loads(train[j]["request"]), target_text(json.loads(train[j]["response"])))
    return [[pick(j) for j in row] for row in nearest(tv, qv, k)]


def choice_shares(answers: dict[str, dict], k: int, draws: int, seed: int = 0) -> dict[str, float]:
    "Share of `draws` resamples of `k` common calls on which S4's rule picks each model (`answers`: model → baselines)."
    import numpy as np
    rng = np.random.default_rng(seed)
    n = min(len(b[m]["close_calls"]) for b in answers.values() for m in MODES)
    picks = {name: 0 for name in answers} | {None: 0}
    for _ in range(draws):
        idx = rng.integers(0, n, k)
        sub = {name: {m: b[m] | {"close_calls": [b[m]["close_calls"][i] for i in idx]} for m in MODES}
               for name, b in answers.items()}
        picks[choose_decoder(sub)[0]] += 1
    return {str(name): round(c / draws, 3) for name, c in picks.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK:FORMAT")
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--probe-steps", action="store_true")
    ap.add_argument("--resample", type=int, default=0, help="draws for the stability of S4's choice (0: none)")
    ap.add_argument("--k", type=int, nargs="+", default=[8, 12, 30], help="common calls a draw holds")
    ap.add_argument("--out", default="benchmarks/out/candidates.json")
    a = ap.parse_args()
    sites = []
    for s in a.sites:
        path, task, fmt = s.rsplit(":", 2)
        train, test = site(path, task, a.n)
        labels = {target_text(json.loads(r["response"])) for r in train} if fmt == "label" else None
        sites.append({"log": Path(path).stem, "task": task, "format": fmt, "train": train, "test": test,
                      "labels": labels, "shots": shots_for(train, test, a.shots)})
    results, answers = [], {}
    for name in a.models:
        t0 = time.perf_counter()
        model, tok = load(name)
        load_s = time.perf_counter() - t0
        for s in sites:
            r = evaluate_candidate(model, tok, s["format"], s["test"], s["shots"], s["labels"])
            answers.setdefault(s["task"], {})[name] = r
            row = {"model": name, "log": s["log"], "task": s["task"], "format": s["format"], "n": len(s["test"]),
                   "load_s": round(load_s, 1)} | {f"{m}_{k}": r[m][k] for m in r for k in ("score", "valid", "close", "seconds_per_call")}
            results.append(row)
            print(json.dumps(row), flush=True)
        del model
        if a.probe_steps:
            for s in sites:
                secs = probe_seconds(name, s["train"], TrainConfig()).per_step
                results.append({"model": name, "log": s["log"], "task": s["task"], "seconds_per_step": round(secs, 2)})
                print(json.dumps(results[-1]), flush=True)
    for task, by_model in answers.items():
        for k in a.k if a.resample else []:
            results.append({"task": task, "k": k, "draws": a.resample, "picked": choice_shares(by_model, k, a.resample)})
            print(json.dumps(results[-1]), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "results": results}, indent=1))


if __name__ == "__main__":
    main()
