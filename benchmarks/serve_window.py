"""A trained specialist's answers with the prompt window it is served with against the one it was trained with:
`python benchmarks/serve_window.py RUN_DIR CLUSTER [--n 40]`.

S5 fits each training example within `max_length` tokens (answer first, then the prompt with its oldest exchanges
dropped: the retrieved examples go before the request does), and the router builds the served prompt within
`context_tokens` (by default the window it trained in, `trained_window`). Where the two differ (long requests), the
adapter answers prompts shaped unlike the ones it learnt from. This answers the cluster's first `--n` held-out test calls
four ways with the same adapter, side by side: as served (`context_tokens`), within the training window (`max_length`
less the format's answer tokens), in S4's 2,048-token window (where retrieved examples of long requests fit), and as
served without retrieved examples; each scored as S4/S5 score the format (`finetune.quality`). Writes `benchmarks/out/serve_window.json`."""
import argparse, json
from pathlib import Path
from slm_agents.finetune import answer, load_adapter, quality
from slm_agents.formats import MAX_NEW, ShotBank
from slm_agents.select import SelectConfig, parted_calls, read_selection
import polars as pl

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("cluster", type=int)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--out", default="benchmarks/out/serve_window.json")
    a = ap.parse_args()
    run, e = Path(a.run_dir), read_selection(a.run_dir)[a.cluster]
    calls = parted_calls(run).filter((pl.col("cluster") == a.cluster) & (pl.col("part") == "test")).sort("call_id")
    rows = calls.head(a.n).to_dicts()
    adir = run / "adapters" / str(a.cluster)
    model, tok, info = load_adapter(adir, merge=True)
    cfg, fmt = info["config"], e["format"]
    reqs = [json.loads(r["request"]) for r in rows]
    bank = ShotBank.load(adir)
    ways = {"served window": (bank, cfg["context_tokens"]),
            "training window": (bank, cfg["max_length"] - MAX_NEW[fmt]),
            "S4's window": (bank, SelectConfig.max_prompt_tokens),
            "served window, no examples": (None, cfg["context_tokens"])}
    res = {"run": str(run), "cluster": a.cluster, "format": fmt, "n": len(rows), "max_length": cfg["max_length"],
           "context_tokens": cfg["context_tokens"], "shots": cfg["shots"]}
    for name, (b, window) in ways.items():
        outs = answer(model, tok, reqs, fmt, info["prune_rule"], bank=b, context_tokens=window)
        res[name] = quality(outs, rows, fmt, e.get("labels") and set(e["labels"]))
        print(name, json.dumps(res[name]), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
