"""Which LoRA learning rate for which candidate, on a call site other than BFCL:
`python benchmarks/lr_sites.py [--site entities] [--models M ...] [--lrs 1e-3 2e-4] [--steps 20] [--n-train 400]
[--n-eval 60]`.

Each model is trained as S5 trains a specialist (`fit_adapter`, TrainConfig's defaults: batches of 8, 2 retrieved
examples, LoRA r 16 on every linear layer, 5 warm-up steps and linear decay) for `--steps` steps at each learning rate,
on the site's training calls of the agent-mix log. The adapter as initialised (step 0: the base model in the
specialist's prompt) and each trained adapter answer the same held-out calls, constrained as S6 constrains them, served
as S6 serves them (`load_specialist`), and are scored with S4's metric for the format against the dataset's reference,
beside the logged LLM answer's score on the same calls. Writes `benchmarks/out/lr_sites_SITE.json`, with each later
learning rate compared to the first on the same calls (mean paired difference, its 95 % bootstrap interval, calls better
and worse); `--compare` recomputes that from the saved answers without training.
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from bfcl_curve import Checkpoints, complete
from slm_agents.datasets import agent_mix
from slm_agents.export import load_specialist
from slm_agents.finetune import TrainConfig, adapter_answer, fit_adapter
from slm_agents.formats import target_text
from slm_agents.models import answer_constraint
from slm_agents.select import score_output, split_of

SITES = {"entities": ("entity_extractor", "json"), "summaries": ("summarizer", "free_text"),
         "intents": ("intent_classifier", "label")}


def site_rows(mix: list[dict], node: str, n_train: int, n_eval: int) -> tuple[list[dict], list[dict]]:
    "(the first `n_train` training calls, the first `n_eval` held-out calls, by call id) of one agent-mix node."
    rows = sorted((r for r in mix if r["node"] == node), key=lambda r: r["call_id"])
    test = [r for r in rows if split_of(r) == "test"][:n_eval]
    return [r for r in rows if split_of(r) == "train"][:n_train], test


def scored(outs, test, fmt, labels) -> dict:
    "Mean S4 score and valid share of `outs`, and of the logged LLM answers, on the same calls."
    s = [score_output(fmt, o, r, labels) for o, r in zip(outs, test)]
    llm = [score_output(fmt, target_text(json.loads(r["response"])), r, labels)[0] for r in test]
    score = float(np.mean([x for x, _ in s]))
    return {"score": round(score, 4), "valid": round(float(np.mean([v for _, v in s])), 4),
            "llm_score": round(float(np.mean(llm)), 4), "retention": round(score / max(1e-9, float(np.mean(llm))), 4)}


def answer_with(adir: Path, reqs, test, fmt, labels, engine) -> dict:
    model, tok, info = load_specialist(adir, engine)
    cons = [answer_constraint(fmt, q, labels) for q in reqs]
    t0 = time.perf_counter()
    outs = adapter_answer(adir, model, tok, info, reqs, fmt, constraints=cons)
    secs = time.perf_counter() - t0
    (adir / "answers.json").write_text(json.dumps(outs, indent=1, ensure_ascii=False))
    return scored(outs, test, fmt, labels) | {"seconds_per_call": round(secs / len(test), 2)}


def paired(out: Path, site: str, test, fmt, labels, models, lrs, steps) -> list[dict]:
    "Each later learning rate against the first, per model, on the same calls, from the answers saved in `out`."
    rng, res = np.random.default_rng(0), []
    score = lambda d: np.array([score_output(fmt, o, r, labels)[0] for o, r in
                                zip(json.loads((d / "answers.json").read_text()), test)])
    for model in models:
        first = score(out / site / f"{model}_lr{lrs[0]:g}" / f"step_{steps}")
        for lr in lrs[1:]:
            d = score(out / site / f"{model}_lr{lr:g}" / f"step_{steps}") - first
            boot = [rng.choice(d, len(d)).mean() for _ in range(5000)]
            res.append({"model": model, "lr": lr, "against": lrs[0], "mean_difference": round(float(d.mean()), 4),
                        "ci95": [round(float(x), 4) for x in np.percentile(boot, [2.5, 97.5])],
                        "better": int((d > 0).sum()), "worse": int((d < 0).sum())})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", choices=sorted(SITES), default="entities")
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 2e-4])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--n-train", type=int, default=400,
                    help="training calls (a cluster of the README's demo has 360-850)")
    ap.add_argument("--n-eval", type=int, default=60)
    ap.add_argument("--engine", default=None, help="serving engine (default: llama.cpp where installed)")
    ap.add_argument("--out", default="benchmarks/out/lr_sites")
    ap.add_argument("--compare", action="store_true", help="only compare the saved answers of an earlier run")
    a = ap.parse_args()
    node, fmt = SITES[a.site]
    train, test = site_rows(agent_mix(None).to_dicts(), node, a.n_train, a.n_eval)
    labels = {target_text(json.loads(r["response"])) for r in train} if fmt == "label" else None
    reqs = [json.loads(r["request"]) for r in test]
    report = Path(f"{a.out}_{a.site}.json")
    if a.compare:
        res = json.loads(report.read_text())
        res["paired"] = paired(Path(a.out), a.site, test, fmt, labels, a.models, a.lrs, a.steps)
        report.write_text(json.dumps(res, indent=1))
        print(json.dumps(res["paired"], indent=1))
        return
    rows = []
    for model in a.models:
        for k, lr in enumerate(a.lrs):
            out = Path(a.out) / a.site / f"{model}_lr{lr:g}"
            cfg = TrainConfig(steps=a.steps, lr=lr)
            info = fit_adapter(model, train, out / f"step_{a.steps}", cfg, progress=True,
                               callbacks=[Checkpoints([0] if k == 0 else [], out)])
            ckpts = [(0, out / "step_0")] if k == 0 else []
            if k == 0: complete(out / f"step_{a.steps}", out / "step_0", 0)
            for steps, adir in ckpts + [(a.steps, out / f"step_{a.steps}")]:
                r = {"site": a.site, "model": model, "lr": lr if steps else None, "steps": steps,
                     "seconds_per_step": info["seconds_per_step"], "final_loss": info["final_loss"] if steps else None}
                r |= answer_with(adir, reqs, test, fmt, labels, a.engine)
                print(json.dumps(r), flush=True)
                rows.append(r)
    res = {"site": a.site, "node": node, "format": fmt, "n_train": len(train), "n_eval": len(test), "rows": rows,
           "paired": paired(Path(a.out), a.site, test, fmt, labels, a.models, a.lrs, a.steps)}
    report.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
