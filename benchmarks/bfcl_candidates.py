"""Untrained candidates on the BFCL tool calls `finetune_eval.py --tasks tools` scores, the same held-out calls:
`python benchmarks/bfcl_candidates.py [--models ...] [--n-eval 60] [--shots 2]`.

Each model answers every call zero-shot (the full request, tool schemas in the system turn) and with the `--shots` nearest
training calls that call the offered functions as examples (`ShotBank`, as an untrained specialist sees them: nothing
pruned), served on llama.cpp from the GGUF file its package ships. Scored by BFCL's own AST checker; error types counted.
Writes `benchmarks/out/bfcl_candidates.json`."""
import argparse, json, time
from pathlib import Path
from finetune_eval import bfcl_errors, tools_rows
from slm_agents.datasets import agent_mix
from slm_agents.export import LlamaCppModel
from slm_agents.finetune import ShotBank, specialist_prompts
from slm_agents.models import REGISTRY, _gguf, load_tokenizer, materialise
from slm_agents.select import MAX_NEW, target_text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    ap.add_argument("--n-eval", type=int, default=60)
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/bfcl_candidates.json")
    a = ap.parse_args()
    train, test = tools_rows(agent_mix(None).to_dicts(), a.n_eval)
    reqs = [json.loads(r["request"]) for r in test]
    bank = ShotBank.build([json.loads(r["request"]) for r in train], [target_text(json.loads(r["response"])) for r in train], a.shots)
    res = []
    for name in a.models:
        folder, fname = _gguf(REGISTRY[name])
        tok = load_tokenizer(materialise(name))
        model = LlamaCppModel(Path(folder) / fname, ctx_per_seq=4096)
        for shots in (0, a.shots):
            prompts = specialist_prompts(tok, reqs, None, bank if shots else None, 4096)
            t0 = time.perf_counter()
            outs = [o for o, _ in model.generate_scored(tok, prompts, MAX_NEW["tool_call"], 8, progress=True)]
            secs = time.perf_counter() - t0
            errors, calls = bfcl_errors(outs, test)
            row = {"model": name, "gguf": fname, "shots": shots, "n": len(test), "accepted": errors.get("accepted", 0),
                   "accuracy": round(errors.get("accepted", 0) / len(test), 4), "errors": errors,
                   "seconds_per_call": round(secs / len(test), 2)}
            res.append(row)
            print(json.dumps(row), flush=True)
        del model
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "n_train": len(train), "results": res}, indent=1))


if __name__ == "__main__":
    main()
