"""S5 prompt pruning, side by side: two LoRA adapters for the Banking77 intent node, trained with the same data, steps, batch,
learning rate and seed, one on the pruned request (the node's fixed 77-label system prompt removed) and one on the request as
the agent sends it; both scored on the same held-out test calls, each served the prompt it was trained on.

    python benchmarks/pruning_eval.py [--steps 40] [--batch-size 8] [--shots 0] [--n-train 2000] [--n-eval 100] [--out benchmarks/out/pruning.json]

Reports prompt tokens per call, training seconds per step, answer seconds for the held-out calls, accuracy and valid-label rate.
"""
import argparse, json, time
from pathlib import Path
from slm_agents.datasets import agent_mix
from slm_agents.formats import specialist_prompts, ShotBank
from slm_agents.finetune import TrainConfig, adapter_answer, fit_adapter, load_adapter, quality
from slm_agents.formats import target_text
from slm_agents.select import split_of

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40); ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--shots", type=int, default=0); ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--n-train", type=int, default=2000); ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/out/pruning.json")
    a = ap.parse_args(); out_dir, res = Path("benchmarks/out/adapters_pruning"), {}
    rows = [r for r in agent_mix(None).to_dicts() if r["node"] == "intent_classifier"]
    tr = [r for r in rows if split_of(r) == "train"][:a.n_train]
    te = sorted((r for r in rows if split_of(r) == "test"), key=lambda r: r["call_id"])[:a.n_eval]
    labels = {target_text(json.loads(r["response"])) for r in tr}; qs = [json.loads(r["request"]) for r in te]
    for prune in (True, False):
        name = "pruned" if prune else "full"
        cfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, shots=a.shots, prune=prune, max_length=1024, target_modules=ALL_LINEAR)
        info = fit_adapter("smollm2-135m-instruct", tr, out_dir / name, cfg, progress=True)
        m, t, info = load_adapter(out_dir / name, merge=True)
        prompts = specialist_prompts(t, qs, info["prune_rule"], ShotBank.load(out_dir / name))
        t0 = time.perf_counter(); q = quality(adapter_answer(out_dir / name, m, t, info, qs, "label"), te, "label", labels); secs = time.perf_counter() - t0
        res[name] = {"prune": prune, "steps": a.steps, "batch_size": a.batch_size, "shots": a.shots, "n_train": len(tr), "n_eval": len(te),
                     "prompt_tokens_per_call": round(sum(len(t(p)["input_ids"]) for p in prompts) / len(prompts), 1),
                     "tokens_per_example": info["tokens_per_example"], "train_seconds_per_step": info["seconds_per_step"],
                     "final_loss": info["final_loss"], "answer_seconds": round(secs, 1), **q}
        print(name, res[name], flush=True)
    res["ratios"] = {k: round(res["full"][k] / res["pruned"][k], 2) for k in ("prompt_tokens_per_call", "train_seconds_per_step", "answer_seconds")}
    print(res["ratios"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
