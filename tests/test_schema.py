import errno, json, os
from datetime import datetime, timezone
import polars as pl
from hypothesis import given, settings, strategies as st, HealthCheck
import pytest
from slm_agents.schema import (Call, calls_frame, ingest, read_calls, read_jsonl, read_parquet, write_calls,
                               write_jsonl, normalise, CALL_SCHEMA)

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=20)

def _write(tmp_path, lines: list[bytes]):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=200).filter(lambda b: b"\n" not in b), max_size=12))
def test_arbitrary_bytes_never_crash_and_nothing_is_lost(tmp_path, lines):
    calls, quar = read_jsonl(_write(tmp_path, lines))
    assert len(calls) + len(quar) == sum(1 for l in lines if l.strip())
    assert quar["reason"].null_count() == 0 and (quar["line"] >= 1).all()

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values, max_size=10))
def test_arbitrary_json_records_are_rows_or_quarantined(tmp_path, values):
    lines = [json.dumps(v).encode() for v in values]
    calls, quar = read_jsonl(_write(tmp_path, lines))
    assert len(calls) + len(quar) == len(values)
    assert set(quar["line"].to_list()) | {i + 1 for i in range(len(values))} == {i + 1 for i in range(len(values))}

text = st.text(min_size=1, max_size=30)
msgs = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": text}), min_size=1, max_size=3)
def _resp(content): return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
calls_st = st.builds(
    lambda i, m, out, agent, node, lat, pt, tags, ts: Call(call_id=f"id{i}", request={"model": "m", "messages": m}, response=_resp(out),
        agent=agent, node=node, model="m", latency_ms=lat, prompt_tokens=pt, completion_tokens=pt, tags=tags,
        ts=datetime.fromtimestamp(ts, timezone.utc)),
    st.integers(0, 10**6), msgs, text, text, st.text(max_size=10), st.none() | st.floats(0, 1e5), st.none() | st.integers(0, 10**6),
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3), st.integers(0, 2_000_000_000))

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(calls_st, max_size=8, unique_by=lambda c: c.call_id))
def test_valid_calls_round_trip_through_jsonl_and_parquet(tmp_path, calls):
    df = calls_frame(calls)
    back, quar = read_calls(write_jsonl(df, tmp_path / "a.jsonl"))
    assert len(quar) == 0 and back.to_dicts() == df.to_dicts()
    back2, quar2 = read_parquet(write_calls(df, tmp_path / "a.parquet"))
    assert len(quar2) == 0 and back2.to_dicts() == df.to_dicts()

GOOD = {"request": {"messages": [{"role": "user", "content": "hi"}]}, "response": _resp("hello")}

def test_each_kind_of_bad_input_gets_its_reason(tmp_path):
    lines = [json.dumps(GOOD).encode(), b"\xff\xfe\xfd", b'{"request": ', json.dumps({"response": {}}).encode(),
             json.dumps({**GOOD, "prompt_tokens": -1}).encode(), json.dumps({**GOOD, "pad": "x" * 5000}).encode(),
             json.dumps({**GOOD, "ts": "yesterday"}).encode()]
    calls, quar = read_jsonl(_write(tmp_path, lines), max_record_bytes=4000)
    assert len(calls) == 1
    reasons = dict(zip(quar["line"].to_list(), quar["reason"].to_list()))
    assert reasons[2] == "not UTF-8"
    assert reasons[3].startswith("malformed JSON")
    assert reasons[4] == "request missing"
    assert reasons[5] == "prompt_tokens is not a non-negative number"
    assert reasons[6] == "record over 4000 bytes"
    assert reasons[7] == "ts is not ISO-8601"

def test_flywheel_records_map_to_agent_node_and_time(tmp_path):
    rec = {"timestamp": 1767225600, "workload_id": "tool_router", "client_id": "ops-agent", **GOOD,
           "response": {**_resp("ok"), "usage": {"prompt_tokens": 7, "completion_tokens": 2}}}
    calls, quar = read_jsonl(_write(tmp_path, [json.dumps(rec).encode()]))
    r = calls.row(0, named=True)
    assert (r["agent"], r["node"], r["prompt_tokens"], r["completion_tokens"]) == ("ops-agent", "tool_router", 7, 2)
    assert r["ts"] == datetime(2026, 1, 1, tzinfo=timezone.utc)

def test_parquet_rows_are_validated_too(tmp_path):
    df = calls_frame([normalise(GOOD), normalise({**GOOD, "call_id": "x2"})])
    df = df.with_columns(pl.when(pl.col("call_id") == "x2").then(pl.lit("{broken")).otherwise(pl.col("request")).alias("request"))
    calls, quar = read_parquet(write_calls(df, tmp_path / "c.parquet"))
    assert len(calls) == 1 and quar["line"].to_list() == [2] and quar["reason"][0].startswith("malformed JSON")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    calls, quar = read_parquet(tmp_path / "junk.parquet")
    assert len(calls) == 0 and quar["reason"][0].startswith("unreadable parquet")

def test_duplicate_ids_across_files_are_quarantined(tmp_path):
    d = tmp_path / "logs"; d.mkdir()
    for n in ("a.jsonl", "b.jsonl"): (d / n).write_text(json.dumps({**GOOD, "call_id": "same"}) + "\n")
    calls, quar = read_calls(d)
    assert len(calls) == 1 and quar["reason"].to_list() == ["duplicate call_id"]

def test_hostile_inputs_become_quarantine_rows_not_crashes(tmp_path):
    "Each of these stopped the whole ingest, or lost a record, before it was a quarantine row."
    logs = tmp_path / "logs"; logs.mkdir()
    lines = [b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),                                   # a byte-order mark
             json.dumps({**GOOD, "response": {**GOOD["response"], "usage": [1, 2]}}).encode(),   # usage not an object
             json.dumps({**GOOD, "prompt_tokens": 2**70}).encode(),                         # above int64
             json.dumps({**GOOD, "pad": "x" * 50_000}).encode()]                            # over the size limit
    (logs / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (logs / "folder.jsonl").mkdir()                                                         # a directory named like a log
    (logs / "gone.jsonl").symlink_to(tmp_path / "missing.jsonl")                            # a broken symlink
    (tmp_path / "secret.jsonl").write_text(json.dumps({**GOOD, "call_id": "outside"}) + "\n")
    (logs / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")                             # a symlink out of the folder
    deep = {"call_id": "deep", "request": "[" * 4_000 + "]" * 4_000, "response": None}       # within the size limit
    pl.DataFrame([{"call_id": "ok", "request": json.dumps(GOOD["request"]), "response": json.dumps(GOOD["response"])}, deep]
                 ).write_parquet(logs / "b.parquet")                                        # deep nesting in a JSON cell
    calls, quar = read_calls(logs, max_record_bytes=10_000)
    reasons = sorted(quar["reason"].to_list())
    assert len(calls) == 2 and "outside" not in calls["call_id"].to_list(), calls       # the BOM line and the Parquet row
    assert reasons == sorted(["response.usage is not an object", "prompt_tokens is out of the 64-bit range",
                              "record over 10000 bytes", "not a regular file", "symbolic link: not followed",
                              "symbolic link: not followed", "record nested too deeply"]), reasons
    assert all("outside" not in r for r in quar["raw"].to_list())


def test_non_finite_numbers_are_quarantined(tmp_path):
    "JSON's 1e400 parses as infinity: it is no latency."
    lines = [json.dumps({**GOOD, "call_id": "ok", "latency_ms": 12.5}).encode(),
             json.dumps({**GOOD, "call_id": "inf"}).encode()[:-1] + b', "latency_ms": 1e400}',
             json.dumps({**GOOD, "call_id": "big"}).encode()[:-1] + b', "latency_ms": ' + b"9" * 400 + b"}"]
    calls, quar = read_jsonl(_write(tmp_path, lines))
    assert calls["call_id"].to_list() == ["ok"] and calls["latency_ms"].to_list() == [12.5]
    assert quar["reason"].to_list() == ["latency_ms is not a finite number"] * 2


def test_a_log_that_cannot_be_opened_is_a_quarantine_row(tmp_path, monkeypatch):
    "A file gone between listing and reading, or one the process may not read, costs that file only."
    gone = ["unreadable file: No such file or directory"]
    assert read_jsonl(tmp_path / "gone.jsonl")[1]["reason"].to_list() == gone
    assert read_parquet(tmp_path / "gone.parquet")[1]["reason"].to_list() == gone
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in ("a.jsonl", "locked.jsonl", "locked.parquet"):
        (logs / n).write_text(json.dumps({**GOOD, "call_id": n}) + "\n")
    real_open = os.open
    def fake_open(path, flags, *a, **kw):
        if "locked" in str(path): raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)
    monkeypatch.setattr(os, "open", fake_open)
    calls, quar = read_calls(logs)
    assert calls["call_id"].to_list() == ["a.jsonl"]
    assert sorted(zip(quar["origin"].to_list(), quar["reason"].to_list())) == [
        (str(logs / "locked.jsonl"), "unreadable file: Permission denied"),
        (str(logs / "locked.parquet"), "unreadable file: Permission denied")]


def test_symbolic_links_are_reported_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jsonl").write_text(json.dumps({**GOOD, "call_id": "outside"}) + "\n")
    calls_frame([normalise({**GOOD, "call_id": "outside-pq"})]).write_parquet(outside / "y.parquet")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(json.dumps({**GOOD, "call_id": "in"}) + "\n")
    (logs / "linkdir").symlink_to(outside, target_is_directory=True)               # a linked folder
    os.mkfifo(logs / "fifo.jsonl")                                                  # never blocks the reader
    calls, quar = read_calls(logs)
    assert calls["call_id"].to_list() == ["in"]
    assert sorted(zip(quar["origin"].to_list(), quar["reason"].to_list())) == [
        (str(logs / "fifo.jsonl"), "not a regular file"), (str(logs / "linkdir"), "symbolic link: not followed")]
    with pytest.raises(ValueError, match="symbolic link"):                          # the path given is a link
        read_calls(logs / "linkdir")
    (tmp_path / "top.jsonl").symlink_to(outside / "x.jsonl")
    with pytest.raises(ValueError, match="symbolic link"):
        read_calls(tmp_path / "top.jsonl")
    for read, name in ((read_jsonl, "x.jsonl"), (read_parquet, "y.parquet")):       # a link swapped in after the listing
        (logs / name).symlink_to(outside / name)
        calls, quar = read(logs / name)
        assert len(calls) == 0 and quar["reason"].to_list() == ["symbolic link: not followed"]


def test_parquet_rows_over_the_size_limit_are_quarantined(tmp_path):
    big = normalise({**GOOD, "call_id": "big", "tags": {"pad": "x" * 20_000}})
    df = calls_frame([normalise({**GOOD, "call_id": "small"}), big])
    calls, quar = read_calls(write_calls(df, tmp_path / "c.parquet"), max_record_bytes=5_000)
    assert calls["call_id"].to_list() == ["small"]
    assert quar.select("line", "reason").rows() == [(2, "record over 5000 bytes")]
    many = pl.concat([df] * 3)                                                      # three row groups of two rows
    many = many.with_columns(pl.format("{}-{}", "call_id", pl.int_range(pl.len())).alias("call_id"))
    many.write_parquet(tmp_path / "groups.parquet", row_group_size=2)
    calls, quar = read_parquet(tmp_path / "groups.parquet", max_record_bytes=5_000)
    assert len(calls) == 3 and quar["line"].to_list() == [2, 4, 6]


def test_written_files_are_private_from_the_start(tmp_path):
    old = os.umask(0o022)
    try:
        stats = ingest(_write(tmp_path, [json.dumps(GOOD).encode(), b"{bad"]), tmp_path / "run" / "deep")
        write_jsonl(calls_frame([normalise(GOOD)]), tmp_path / "run" / "mix.jsonl")
    finally:
        os.umask(old)
    assert (stats["n_calls"], stats["n_quarantined"]) == (1, 1)
    modes = {p.relative_to(tmp_path).as_posix(): oct(p.stat().st_mode & 0o777) for p in (tmp_path / "run").rglob("*")}
    assert modes == {"run/deep": "0o700", "run/deep/calls.parquet": "0o600", "run/deep/quarantine.parquet": "0o600",
                     "run/mix.jsonl": "0o600"}
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == "0o700"                # no temporary file is left either
