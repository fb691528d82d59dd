"""Untrained candidates on the BFCL tool calls `finetune_eval.py --tasks tools` scores, the same held-out calls, free and
constrained: `python benchmarks/bfcl_candidates.py [--models ...] [--n-eval 60] [--shots 2 4]
[--constrained | --only-constrained] [--engine ...]`.

Each model answers every call zero-shot (the full request, tool schemas in the system turn) and with the `--shots` nearest
training calls that call the offered functions as examples (`ShotBank`, as an untrained specialist sees them: nothing
pruned). With `--constrained`, every answer is written twice: free, and within the schema of the functions the request
offers (`models.answer_constraint`, xgrammar). Served on llama.cpp from the GGUF file the model's package ships, or on
transformers (`--engine transformers`). Scored by BFCL's own AST checker; error types counted, answers cut at the token
limit counted, seconds per call and per generated token. Writes `benchmarks/out/bfcl_candidates.json`."""
import argparse, importlib.util, json, time
from pathlib import Path
from finetune_eval import bfcl_errors, tools_rows
from slm_agents.datasets import agent_mix
from slm_agents.formats import ShotBank, specialist_prompts
from slm_agents.models import REGISTRY, _gguf, answer_constraint, generate_scored, load, load_tokenizer
from slm_agents.formats import MAX_NEW, most_calls, target_text


def engine_model(name: str, engine: str, threads: int | None = None):
    "(model, tokenizer) of a registry model on `engine`."
    if engine == "transformers": return load(name)
    from slm_agents.export import LlamaCppModel
    folder, fname = _gguf(REGISTRY[name])
    tok = load_tokenizer(folder, fname)            # the GGUF's own tokenizer: no float32 copy of the model needed
    return LlamaCppModel(Path(folder) / fname, ctx_per_seq=4096, threads=threads), tok


def measure(model, tok, prompts, cons, test) -> dict:
    "BFCL verdicts, cut answers and speed of one pass over the held-out calls."
    t0 = time.perf_counter()
    outs = [o for o, _ in generate_scored(model, tok, prompts, MAX_NEW["tool_call"], 8, progress=True, constraints=cons)]
    secs = time.perf_counter() - t0
    errors, _ = bfcl_errors(outs, test)
    n_tok = [len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs]
    acc = errors.get("accepted", 0)
    return {"n": len(test), "accepted": acc, "accuracy": round(acc / len(test), 4), "errors": errors,
            "cut": sum(n >= MAX_NEW["tool_call"] for n in n_tok), "generated_tokens": sum(n_tok),
            "seconds_per_call": round(secs / len(test), 2), "ms_per_token": round(1000 * secs / max(1, sum(n_tok)), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    ap.add_argument("--n-eval", type=int, default=60)
    ap.add_argument("--shots", type=int, nargs="+", default=[2],
                    help="retrieved examples per pass (zero-shot too, unless --only-constrained)")
    ap.add_argument("--constrained", action="store_true", help="also answer within the offered functions' schema")
    ap.add_argument("--only-constrained", action="store_true", help="constrained answers only, no zero-shot pass")
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    ap.add_argument("--engine", choices=["llama.cpp", "transformers"], default="llama.cpp" if has_llama else "transformers")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every core)")
    ap.add_argument("--out", default="benchmarks/out/bfcl_candidates.json")
    a = ap.parse_args()
    train, test = tools_rows(agent_mix(None).to_dicts(), a.n_eval)
    reqs = [json.loads(r["request"]) for r in test]
    answers = [target_text(json.loads(r["response"])) for r in train]
    bank = ShotBank.build([json.loads(r["request"]) for r in train], answers, max(a.shots))
    grammars = [answer_constraint("tool_call", q, max_calls=most_calls(answers)) for q in reqs]
    res = []
    for name in a.models:
        model, tok = engine_model(name, a.engine, a.threads)
        for shots in sorted(set(a.shots) | ({0} if not a.only_constrained else set())):
            bank.k = shots
            prompts = specialist_prompts(tok, reqs, None, bank if shots else None, 4096)
            modes = (True,) if a.only_constrained else (False, True) if a.constrained else (False,)
            for held in modes:
                m = measure(model, tok, prompts, grammars if held else None, test)
                row = {"model": name, "engine": a.engine, "shots": shots, "constrained": held} | m
                res.append(row)
                print(json.dumps(row), flush=True)
        del model
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "n_train": len(train), "results": res}, indent=1))


if __name__ == "__main__":
    main()
