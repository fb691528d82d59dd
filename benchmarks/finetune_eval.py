"""S5 on CPU: base vs LoRA-fine-tuned SmolLM2-135M on two agent-mix nodes, scored with S4's metrics.

    python benchmarks/finetune_eval.py [--steps-intent 100] [--shots-intent 3] [--steps-tools 60] [--shots-tools 2] [--compact-tools] [--n-eval 200] [--out benchmarks/out/finetune.json]

Banking77 intents: accuracy (exact label). BFCL tool calls: share of held-out calls BFCL's own AST checker accepts, on test
calls whose tools all appear in the training calls. The fine-tuned model sees the pruned request (static instructions
removed) with its retrieved examples, as it would at run time; the base model sees the full request. For BFCL the checker's
error types are counted for both, and the fine-tuned model's outputs with their verdicts go to benchmarks/out/adapters/tools_calls.json. For intents the label
of the single nearest training call (same embeddings as the retrieved examples) is reported as a reference point.
"""
import argparse, json, time
from collections import Counter
from pathlib import Path
import polars as pl
from slm_agents.datasets import agent_mix
from slm_agents.formats import ShotBank
from slm_agents.finetune import TrainConfig, adapter_answer, answer, fit_adapter, load_adapter, quality
from slm_agents.models import load, prompt_text, render_messages
from slm_agents.formats import parse_tool_calls, target_text
from slm_agents.select import bfcl_verdict, split_of

def bfcl_errors(outs, rows) -> tuple[dict, list]:
    "BFCL checker error types over held-out calls, and each call's output with its verdict."
    v = [bfcl_verdict(r["source"], json.loads(r["tags"])["source_id"], r["reference"], parse_tool_calls(o)) for o, r in zip(outs, rows)]
    calls = [{"call_id": r["call_id"], "output": o, "reference": r["reference"], **x} for o, r, x in zip(outs, rows, v)]
    return dict(Counter(x["error_type"] or "accepted" for x in v).most_common()), calls

def run(name, rows_train, rows_test, fmt, cfg, out_dir):
    labels = {target_text(json.loads(r["response"])) for r in rows_train} if fmt == "label" else None
    t0 = time.perf_counter(); info = fit_adapter("smollm2-135m-instruct", rows_train, out_dir / name, cfg, progress=True); train_s = time.perf_counter() - t0
    qs = [json.loads(r["request"]) for r in rows_test]
    bm, bt = load("smollm2-135m-instruct"); fm, ft, _ = load_adapter(out_dir / name, merge=True)
    t0 = time.perf_counter(); base_outs = answer(bm, bt, qs, fmt); base = quality(base_outs, rows_test, fmt, labels); base_s = time.perf_counter() - t0
    t0 = time.perf_counter(); outs = adapter_answer(out_dir / name, fm, ft, info, qs, fmt); tuned = quality(outs, rows_test, fmt, labels); tuned_s = time.perf_counter() - t0
    extra = {"prompt_tokens_full": round(sum(len(bt(prompt_text(bt, render_messages(q)))["input_ids"]) for q in qs) / len(qs), 1)}
    if fmt == "label":
        bank = ShotBank.load(out_dir / name) or ShotBank.build([json.loads(r["request"]) for r in rows_train], [target_text(json.loads(r["response"])) for r in rows_train])
        extra["nearest_label_accuracy"] = round(sum(s[0][1] == target_text(json.loads(r["response"])) for s, r in zip(bank.nearest(qs, 1), rows_test)) / len(qs), 4)
    if fmt == "tool_call" and all((r.get("source") or "").startswith("bfcl/") for r in rows_test):
        extra["bfcl_errors_base"], _ = bfcl_errors(base_outs, rows_test)
        extra["bfcl_errors_finetuned"], calls = bfcl_errors(outs, rows_test)
        (out_dir / f"{name}_calls.json").write_text(json.dumps(calls, indent=1, ensure_ascii=False))
    return extra | {"format": fmt, "compact_tools": cfg.compact_tools, "group_by_length": cfg.group_by_length, "n_train": len(rows_train), "n_eval": len(rows_test), "steps": cfg.steps, "batch_size": cfg.batch_size, "shots": cfg.shots,
            "target_modules": list(cfg.target_modules), "lr": cfg.lr,
            "train_minutes": round(train_s / 60, 2), "seconds_per_step": info["seconds_per_step"], "tokens_per_example": info["tokens_per_example"], "final_loss": info["final_loss"],
            "base": base, "finetuned": tuned, "eval_seconds_base": round(base_s, 1), "eval_seconds_finetuned": round(tuned_s, 1)}

def intent_task(mix, a, out_dir):
    rows = [r for r in mix if r["node"] == "intent_classifier"]
    tr = [r for r in rows if split_of(r) == "train"][:4000]
    te = sorted((r for r in rows if split_of(r) == "test"), key=lambda r: r["call_id"])[:a.n_eval]
    return run("intent", tr, te, "label", TrainConfig(steps=a.steps_intent, batch_size=8, max_length=256, lr=1e-3, shots=a.shots_intent,
                                                     target_modules=ALL_LINEAR), out_dir)

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

def tools_rows(mix, n_eval: int) -> tuple[list[dict], list[dict]]:
    "(training calls, the first `n_eval` held-out calls whose tools all appear in training) of the BFCL live nodes."
    rows = [r for r in mix if r["task"] == "tool_call" and r["source"] != "bfcl/simple_python"]
    tr = [r for r in rows if split_of(r) == "train"]
    seen = {t["function"]["name"] for r in tr for t in json.loads(r["request"]).get("tools") or []}
    te = sorted((r for r in rows if split_of(r) == "test" and all(t["function"]["name"] in seen for t in json.loads(r["request"])["tools"])),
                key=lambda r: r["call_id"])[:n_eval]
    return tr, te

def tools_task(mix, a, out_dir):
    tr, te = tools_rows(mix, a.n_eval)
    return run("tools", tr, te, "tool_call", TrainConfig(steps=a.steps_tools, batch_size=a.batch_tools, max_length=1280, lr=a.lr_tools,
                                                        shots=a.shots_tools, target_modules=ALL_LINEAR, compact_tools=a.compact_tools,
                                                        group_by_length=not a.no_group), out_dir)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps-intent", type=int, default=100); ap.add_argument("--shots-intent", type=int, default=3)
    ap.add_argument("--steps-tools", type=int, default=60); ap.add_argument("--batch-tools", type=int, default=4)
    ap.add_argument("--shots-tools", type=int, default=2); ap.add_argument("--lr-tools", type=float, default=1e-3)
    ap.add_argument("--n-eval", type=int, default=200); ap.add_argument("--out", default="benchmarks/out/finetune.json")
    ap.add_argument("--tasks", default="intent,tools", help="comma-separated: intent, tools")
    ap.add_argument("--compact-tools", action="store_true", help="tools as signatures, not JSON schemas, in the specialist's prompt")
    ap.add_argument("--no-group", action="store_true", help="random batches instead of batches grouped by length")
    a = ap.parse_args(); out_dir, res = Path("benchmarks/out/adapters"), {}
    mix = agent_mix(None).to_dicts()
    for task in a.tasks.split(","):
        res[{"intent": "banking77_intent", "tools": "bfcl_live_tool_calls_seen_tools"}[task]] = r = {"intent": intent_task, "tools": tools_task}[task](mix, a, out_dir)
        print(task, r, flush=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
