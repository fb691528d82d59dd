"""ROUGE-L of a free-text cluster's replayed specialist answers against its references, served and sent to the LLM apart:
`python benchmarks/served_rouge.py RUN_DIR CLUSTER`.

Reads S6's `eval/predictions.parquet` and the run's `curated.parquet`; for the cluster's held-out calls the specialist
answered, the median and mean ROUGE-L against the call's references (`select._gold`: every human TLDR where the log has
them) and the free-text score, for the answers the router served and for those it sent to the LLM."""
import json, sys
from pathlib import Path
import numpy as np
import polars as pl
from slm_agents.select import _gold, rouge_l


def main(run_dir: str, cluster: int) -> dict:
    run = Path(run_dir)
    preds = pl.read_parquet(run / "eval" / "predictions.parquet").filter(pl.col("cluster") == cluster)
    calls = pl.read_parquet(run / "curated.parquet").select("call_id", "request", "response", "reference")
    rows = preds.filter(pl.col("slm_answer").is_not_null()).join(calls, on="call_id")
    out = {}
    for name, part in (("served", rows.filter(pl.col("route") == "slm")), ("to the LLM", rows.filter(pl.col("route") != "slm"))):
        r = [rouge_l(a, _gold(x)[1]) for a, x in zip(part["slm_answer"], part.iter_rows(named=True))]
        out[name] = {"n": part.height, "rouge_l_median": round(float(np.median(r)), 3) if r else None,
                     "rouge_l_mean": round(float(np.mean(r)), 3) if r else None,
                     "free_text_score": round(float(part["slm_score"].mean()), 3) if part.height else None}
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2])), indent=1))
