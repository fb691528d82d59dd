"""Does curation keep a tool-call or extraction site learnable? `python benchmarks/pseudonym_consistency.py LOG NODE`.

Curates the calls of one node of a log (`curate.curate`, production defaults) and reports, for its logged structured
answers (tool calls, or JSON objects), the share whose string values all occur in the request's messages (a model can
copy them) and the share where curation broke a copy: a value the raw request held and the curated request lacks (a model
would have to invent it), for the raw log and the curated calls side by side. Surrogates are realistic values, not
`<TYPE_n>` placeholders, so a broken copy is found by pairing each curated call with its raw call, leaf by leaf (numbers
included)."""
import argparse, json
import polars as pl
from slm_agents.curate import curate
from slm_agents.schema import read_calls
from slm_agents.formats import _json_object, parse_tool_calls, target_text


def leaves(o):
    "Each string and number (not bool) of a JSON value, as text, in order."
    if isinstance(o, str): yield o
    elif isinstance(o, (int, float)) and not isinstance(o, bool): yield json.dumps(o)
    elif isinstance(o, dict):
        for v in o.values(): yield from leaves(v)
    elif isinstance(o, list):
        for v in o: yield from leaves(v)


def answer(r: dict) -> tuple[list[str], str] | None:
    "The values of a call's structured answer (its tool calls' arguments, or a JSON object's) and its request's text."
    out = target_text(json.loads(r["response"])) if r["response"] else ""
    found = parse_tool_calls(out)
    values = [v for c in found for v in leaves(c["arguments"])] if found else None
    if values is None and (o := _json_object(out)) is not None:
        values = list(leaves(o))
    if values is None: return None
    msgs = json.loads(r["request"])["messages"]
    return values, " ".join(m["content"] for m in msgs if isinstance(m.get("content"), str))



def shares(calls: pl.DataFrame, raw: dict | None = None) -> dict:
    "Structured answers: how many, the share copyable from the request, the share where curation broke a copy."
    n = copyable = broken = 0
    for r in calls.iter_rows(named=True):
        got = answer(r)
        if got is None: continue
        values, text = got
        strs = [v for v in values if v.strip() and not v.lstrip("-").replace(".", "", 1).isdigit()]   # strings, as before
        n += 1
        copyable += all(v.casefold() in text.casefold() for v in strs)
        before = raw.get(r["call_id"]) if raw else None
        if before and len(before[0]) == len(values):
            broken += any(v0.casefold() in before[1].casefold() and v.casefold() not in text.casefold()
                          for v0, v in zip(before[0], values) if v0.strip())
    return {"structured_answers": n, "copyable": round(copyable / max(n, 1), 4), "copy_broken": round(broken / max(n, 1), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("node")
    a = ap.parse_args()
    calls, _ = read_calls(a.log)
    calls = calls.filter(pl.col("node") == a.node)
    cur, _, _ = curate(calls)
    raw = {r["call_id"]: got for r in calls.iter_rows(named=True) if (got := answer(r))}
    print(json.dumps({"raw": shares(calls), "curated": shares(cur, raw)}))


if __name__ == "__main__":
    main()
