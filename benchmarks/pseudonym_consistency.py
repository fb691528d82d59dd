"""Does curation keep a tool-call site learnable? `python benchmarks/pseudonym_consistency.py LOG NODE`.

Curates the calls of one node of a log (`curate.curate`, production defaults) and reports, for its logged tool calls, the
share whose string argument values all occur in the request's messages (a model can copy them) and the share holding a
pseudonym the request lacks (a model would have to invent it), for the raw log and the curated calls side by side."""
import argparse, json, re
import polars as pl
from slm_agents.curate import curate
from slm_agents.schema import read_calls
from slm_agents.select import parse_tool_calls, target_text


def strings(o):
    if isinstance(o, str): yield o
    elif isinstance(o, dict):
        for v in o.values(): yield from strings(v)
    elif isinstance(o, list):
        for v in o: yield from strings(v)


def shares(calls: pl.DataFrame) -> dict:
    "Tool-call answers: how many, the share copyable from the request, the share with a pseudonym the request lacks."
    n = copyable = orphan = 0
    for r in calls.iter_rows(named=True):
        found = parse_tool_calls(target_text(json.loads(r["response"]))) if r["response"] else None
        if not found: continue
        msgs = json.loads(r["request"])["messages"]
        text = " ".join(m["content"] for m in msgs if isinstance(m.get("content"), str))
        values = [v for c in found for v in strings(c["arguments"]) if v.strip()]
        n += 1
        copyable += all(v.casefold() in text.casefold() for v in values)
        orphan += any(p not in text for v in values for p in re.findall(r"<[A-Z_]+_\d+>", v))
    return {"tool_call_answers": n, "copyable": round(copyable / max(n, 1), 4), "pseudonym_missing": round(orphan / max(n, 1), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("node")
    a = ap.parse_args()
    calls, _ = read_calls(a.log)
    calls = calls.filter(pl.col("node") == a.node)
    cur, _, _ = curate(calls)
    print(json.dumps({"raw": shares(calls), "curated": shares(cur)}))


if __name__ == "__main__":
    main()
