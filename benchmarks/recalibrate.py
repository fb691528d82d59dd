"""A finished run's thresholds set again under another rule: `python benchmarks/recalibrate.py RUN_DIR [--floors 0.8 0.9]`.

Reads the router's calibration answers (`router/calibration.parquet`) and the evaluation's test answers
(`eval/predictions.parquet`) and sets each cluster's threshold with `select.calibrate`: once holding the served answers to
the target (`min_served_quality` = target, the rule before the cluster's retention), then at each floor. Where the
evaluation answered every test call of a cluster with its specialist, the test share served and the cluster's retention
at that threshold are shown too, and the largest share any threshold could serve on the test calls under the same rule,
chosen on those calls themselves (an upper bound). No model runs."""
import argparse
import polars as pl
from slm_agents.evaluate import summarise
from slm_agents.select import calibrate

def on_test(test: pl.DataFrame, threshold: float) -> tuple[float, float]:
    "(share served, cluster retention) of `test` answers at `threshold`, as the evaluation counts them (`summarise`)."
    served = test["slm_valid"] & (test["answer_confidence"] >= threshold)
    m = summarise(test.with_columns(route=pl.when(served).then(pl.lit("slm")).otherwise(pl.lit("llm"))))
    return m["replacement_rate"], m["quality_retention"]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--floors", type=float, nargs="+", default=[0.8, 0.85, 0.9])
    a = ap.parse_args()
    cal = pl.read_parquet(f"{a.run_dir}/router/calibration.parquet")
    pred = pl.read_parquet(f"{a.run_dir}/eval/predictions.parquet")
    for (cid,), g in sorted(cal.group_by("cluster"), key=lambda kv: kv[0]):
        test = pred.filter(pl.col("cluster") == cid)
        for floor in [a.target] + a.floors:
            c = calibrate(*(g[k].to_list() for k in ("slm", "llm", "confidence", "valid")), a.target, 5, floor)
            line = f"cluster {cid}, {len(g)} calibration answers, floor {floor:.2f}: "
            if c["threshold"] is None:
                print(line + "no threshold")
                continue
            line += f"{c['accepted']} served ({c['coverage']:.0%}), cluster {c['retention']:.3f}, "
            line += f"served {c['served_quality']:.3f}"
            if len(test) and test["attempted"].all():
                share, ret = on_test(test, c["threshold"])
                cols = ("slm_score", "llm_score", "answer_confidence", "slm_valid")
                best = calibrate(*(test[k].to_list() for k in cols), a.target, 5, floor)["coverage"]
                line += f" | test: {share:.1%} of {len(test)} served, retention {ret:.3f}; best share {best:.1%}"
            print(line)
