"""A candidate's LoRA learning curve on BFCL's live tool calls, constrained decoding, BFCL's own checker:
`python benchmarks/bfcl_curve.py [--model qwen2.5-coder-0.5b-instruct] [--steps 0 20 40] [--n-eval 120] [--lr 1e-3]`.

One adapter is trained for the largest step count with S5's `fit_adapter` (TRL on this machine's CPU) in the tools
configuration of `finetune_eval.py` (batches of 4 examples of at most 1,280 tokens, 2 retrieved examples, requests
pruned of their static instructions, S5's learning rate for the model's size unless `--lr`); along the way it is also
saved at each smaller step count (step 0: the LoRA as initialised, which is the base model in the specialist's own
prompt). Each checkpoint answers the same held-out calls (test calls whose tools all appear in training) within the
offered functions' schema, served as S6 serves it (`load_specialist`: its f16 GGUF on llama.cpp), and BFCL's checker
scores every answer. Writes `benchmarks/out/bfcl_curve.json` and `benchmarks/out/bfcl_curve.png`; the seconds of
training and of answering are measured in the same run.
"""
import argparse, json, shutil, time
from pathlib import Path
from transformers import TrainerCallback
from finetune_eval import bfcl_errors, tools_rows
from slm_agents.datasets import agent_mix
from slm_agents.export import load_specialist
from slm_agents.finetune import TrainConfig, adapter_answer, fit_adapter
from slm_agents.formats import most_calls, target_text
from slm_agents.models import answer_constraint


class Checkpoints(TrainerCallback):
    "Save the LoRA weights at the given optimizer steps (0: before the first step)."
    def __init__(self, steps, out: Path):
        self.steps, self.out = set(steps), out
    def _save(self, model, step):
        if step in self.steps: model.save_pretrained(self.out / f"step_{step}")
    def on_train_begin(self, args, state, control, model=None, **kw): self._save(model, 0)
    def on_step_end(self, args, state, control, model=None, **kw): self._save(model, state.global_step)


def complete(final: Path, ckpt: Path, steps: int):
    "A checkpoint an adapter loader reads: the final adapter's tokenizer, examples and settings; its own weights."
    for f in final.iterdir():
        if f.is_file() and not f.name.startswith("adapter_") and not (ckpt / f.name).exists():
            shutil.copy(f, ckpt / f.name)
    info = json.loads((final / "train_config.json").read_text())
    info["config"]["steps"], info["seconds"] = steps, round(info["seconds_per_step"] * steps, 1)
    (ckpt / "train_config.json").write_text(json.dumps(info, indent=1))


def score(adir: Path, reqs, test, grammars, engine) -> dict:
    "BFCL verdicts and seconds per call of one checkpoint on the held-out calls."
    model, tok, info = load_specialist(adir, engine)
    t0 = time.perf_counter()
    outs = adapter_answer(adir, model, tok, info, reqs, "tool_call", constraints=grammars)
    secs = time.perf_counter() - t0
    errors, calls = bfcl_errors(outs, test)
    (adir / "answers.json").write_text(json.dumps(calls, indent=1))
    acc = errors.get("accepted", 0)
    return {"n": len(test), "accepted": acc, "accuracy": round(acc / len(test), 4), "errors": errors,
            "seconds_per_call": round(secs / len(test), 2)}


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt, seaborn as sns
    fig, ax = plt.subplots(figsize=(5, 3))
    sns.lineplot(x=[r["steps"] for r in rows], y=[r["accuracy"] for r in rows], marker="o", ax=ax)
    ax.set(xlabel="LoRA steps (batches of 4)", ylabel="BFCL checker: accepted", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 20, 40])
    ap.add_argument("--n-eval", type=int, default=120)
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: S5's for the model's size)")
    ap.add_argument("--engine", default=None, help="serving engine (default: llama.cpp where installed)")
    ap.add_argument("--out", default="benchmarks/out/bfcl_curve")
    a = ap.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    train, test = tools_rows(agent_mix(None).to_dicts(), a.n_eval)
    reqs = [json.loads(r["request"]) for r in test]
    answers = [target_text(json.loads(r["response"])) for r in train]
    grammars = [answer_constraint("tool_call", q, max_calls=most_calls(answers)) for q in reqs]
    cfg = TrainConfig(steps=max(a.steps), batch_size=4, max_length=1280, shots=a.shots, group_by_length=True,
                      lr=a.lr)
    final = out / f"step_{cfg.steps}"
    t0 = time.perf_counter()
    info = fit_adapter(a.model, train, final, cfg, progress=True, callbacks=[Checkpoints(a.steps, out)])
    print(f"{len(train)} training calls, {cfg.steps} steps in {time.perf_counter() - t0:.0f} s "
          f"({info['seconds_per_step']} s a step, {info['tokens_per_example']} tokens an example)", flush=True)
    rows = []
    for s in sorted(a.steps):
        if s != cfg.steps: complete(final, out / f"step_{s}", s)
        r = {"model": a.model, "lr": info["config"]["lr"], "steps": s,
             "train_seconds": round(info["seconds_per_step"] * s, 1)}
        r |= score(out / f"step_{s}", reqs, test, grammars, a.engine)
        print(json.dumps(r), flush=True)
        rows.append(r)
    result = {"config": info["config"], "n_train": len(train), "rows": rows}
    Path(f"{a.out}.json").write_text(json.dumps(result, indent=1))
    plot(rows, Path(f"{a.out}.png"))


if __name__ == "__main__":
    main()
