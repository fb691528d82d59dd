"""A JSON cluster decoded three ways: `python benchmarks/json_shape.py RUN_DIR CLUSTER [--model M] [--n N]`.

The same untrained decoder, with the two retrieved examples S4 gives it, answers the first `N` test calls of a run's JSON
cluster under three constraints: any JSON object (before), the cluster's observed shape (`formats.json_shape`: keys,
types, longest lists), and that shape with every string limited to the user turn's word runs (`extract_words`, whether
or not the cluster passed the 95 % test). Reported per variant: mean field F1 against the logged answers
(`select.field_f1`), exact answers, valid output, seconds per call, and the best share any threshold on the answer's
confidence serves at 95 % of the LLM's quality (chosen on these calls: an upper bound)."""
import argparse, json, time
from dataclasses import asdict, replace
import numpy as np, polars as pl
from slm_agents.formats import _strings, constraints_of, json_shape, target_text
from slm_agents.models import generate_scored, load
from slm_agents.select import (_baseline_prompt, calibrate, llm_score, parted_calls, retrieve_shots, score_output,
                               shared_embedder, split_of)


def variants(train: list[dict]) -> dict:
    "Each constraint's `json_shape` entry: none, the observed shape, and the shape with extraction forced on."
    answers = [target_text(json.loads(r["response"])) for r in train]
    shape = json_shape(answers, [json.loads(r["request"]) for r in train])
    words = [len(s.split()) for a in answers for s in _strings(json.loads(a))]
    forced = replace(shape, extract_words=shape.extract_words or int(np.ceil(np.quantile(words, 0.99))))
    print(json.dumps({"extract_words": shape.extract_words, "forced": forced.extract_words}))
    return {"object": None, "shape": asdict(replace(shape, extract_words=None)), "shape + extraction": asdict(forced)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("cluster", type=int)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=59)
    a = ap.parse_args()
    rows = parted_calls(a.run_dir).filter(pl.col("cluster") == a.cluster).sort("call_id").to_dicts()
    train = [r for r in rows if split_of(r) == "train"]
    held = [r for r in rows if split_of(r) == "test"][:a.n]
    _, _, shots = retrieve_shots(shared_embedder(), train, held, len(held), 2)
    model, tok = load(a.model)
    reqs = [json.loads(r["request"]) for r in held]
    prompts = [_baseline_prompt(tok, q, s, 2048) for q, s in zip(reqs, shots)]
    llm = [llm_score("json", r) for r in held]
    for name, shape in variants(train).items():
        cons = constraints_of({"format": "json", "constrained": True, "json_shape": shape}, reqs)
        t0 = time.perf_counter()
        outs = generate_scored(model, tok, prompts, 96, 8, constraints=cons)
        secs = (time.perf_counter() - t0) / len(held)
        scored = [score_output("json", o, r) for (o, _), r in zip(outs, held)]
        f1, valid = [s for s, _ in scored], [v for _, v in scored]
        best = calibrate(f1, llm, [c for _, c in outs], valid, 0.95, 5)
        print(json.dumps({"variant": name, "n": len(held), "field_f1": round(float(np.mean(f1)), 3),
                          "exact": round(float(np.mean([s >= 0.999 for s in f1])), 3),
                          "valid": round(float(np.mean(valid)), 3), "seconds_per_call": round(secs, 2),
                          "best_share": best["coverage"]}), flush=True)


if __name__ == "__main__":
    main()
