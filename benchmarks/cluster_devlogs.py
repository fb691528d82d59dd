"""S3 on whole logs: `python benchmarks/cluster_devlogs.py LOG.parquet ...` runs `run_cluster` with defaults on each log as
its `curated.parquet` and prints ARI/NMI against `task`, each call site's share in its largest cluster, and the cards' formats."""
import sys, json, tempfile, time
from pathlib import Path
import polars as pl
from slm_agents.cluster import run_cluster
from slm_agents.schema import write_calls, read_parquet
for name in sys.argv[1:]:
    df = pl.read_parquet(name)
    d = Path(tempfile.mkdtemp()); write_calls(df, d / "curated.parquet")
    t0 = time.time(); res = run_cluster(d); t = time.time() - t0
    lab = pl.read_parquet(d / "clusters.parquet").join(df.select("call_id", "task"), on="call_id")
    g = lab.group_by("task", "cluster").len()
    share = g.group_by("task").agg((pl.col("len").max() / pl.col("len").sum()).alias("largest"), pl.col("len").sum().alias("n"))
    print(name, res["scores_vs_task"], f"{t:.0f}s")
    print(share.sort("task"))
    print([(c["cluster"], c["size"], c["format"]["dominant"], list(c["nodes"])[:2], c["format"]["label_evidence"]) for c in res["cards"]])
