"""Split an agent-mix log into a first round and a shifted next round for `slm-agents iterate`.

    python benchmarks/iterate_split.py runs/agent_mix.parquet runs/am_part1.parquet runs/am_part2.parquet

The first round is half the calls (by a hash of the call id) without the BFCL `tool_call_python` node; the next round is
the other half with that node (a call site the first run never saw) and only 40 % of its summaries (a traffic shift)."""
import hashlib, sys
import polars as pl

def bucket(call_id: str, salt: str, n: int) -> int:
    return int(hashlib.sha256(f"{salt}:{call_id}".encode()).hexdigest()[:8], 16) % n

def split(df: pl.DataFrame, withheld: str = "tool_call_python", keep_summaries: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    half = df["call_id"].map_elements(lambda c: bucket(c, "part", 2), return_dtype=pl.Int64)
    keep = df["call_id"].map_elements(lambda c: bucket(c, "keep", 5) < keep_summaries, return_dtype=pl.Boolean)
    first = df.filter((half == 0) & (pl.col("node") != withheld))
    later = df.filter(((half == 1) | (pl.col("node") == withheld)) & ((pl.col("node") != "summarizer") | keep))
    return first, later

if __name__ == "__main__":
    src, out1, out2 = sys.argv[1:4]
    first, later = split(pl.read_parquet(src))
    first.write_parquet(out1)
    later.write_parquet(out2)
    for name, p in (("first", first), ("next", later)):
        print(name, len(p), dict(sorted(p.group_by("node").len().iter_rows())))
