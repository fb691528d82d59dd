import json, shutil
from collections import Counter
import polars as pl
import pytest
from slm_agents.datasets import DatasetUnavailable, agent_mix, dataset_dir, write_agent_mix
from slm_agents.schema import read_calls, iter_calls, call_tool_calls, call_output

def test_full_agent_mix_builds_with_every_source_and_split(data_dir):
    df = agent_mix(None, data_dir)
    counts = Counter(df["source"].to_list())
    assert counts == {"banking77": 13083, "wnut17": 5690, "scitldr": 3229, "bfcl/live_simple": 258,
                      "bfcl/live_multiple": 1053, "bfcl/simple_python": 400}
    assert df["call_id"].n_unique() == len(df)
    split = df["tags"].str.json_path_match("$.split")
    bfcl = df.filter(pl.col("source").str.starts_with("bfcl"))
    share = (bfcl["tags"].str.json_path_match("$.split") == "test").mean()
    assert 0.15 < share < 0.25
    assert set(split.to_list()) == {"train", "test"}
    # one fixed system prompt per node
    sys_prompts = df.select("node", pl.col("request").str.json_path_match("$.messages[0].content").alias("sys"))
    assert (sys_prompts.group_by("node").agg(pl.col("sys").n_unique())["sys"] == 1).all()

def test_logged_answers_have_the_shapes_each_task_needs(data_dir):
    df = agent_mix(30, data_dir, seed=3)
    for c in iter_calls(df):
        if c.task == "tool_call":
            calls = call_tool_calls(c)
            assert calls and c.request["tools"]
            names = {t["function"]["name"] for t in c.request["tools"]}
            assert all(tc["function"]["name"] in names for tc in calls)
            assert all(isinstance(json.loads(tc["function"]["arguments"]), dict) for tc in calls)
        elif c.task == "intent": assert call_output(c) in c.request["messages"][0]["content"].splitlines()
        elif c.task == "entity_extraction": assert list(json.loads(call_output(c))) == ["person", "location", "group", "corporation", "product", "creative-work"]
        else: assert call_output(c) in json.loads(c.reference)

def test_sampling_is_deterministic_and_seeded(data_dir):
    a, b, c = agent_mix(10, data_dir, seed=1), agent_mix(10, data_dir, seed=1), agent_mix(10, data_dir, seed=2)
    assert a.equals(b) and not a.equals(c)

def test_checksum_mismatch_is_refused(tmp_path, data_dir):
    shutil.copytree(f"{data_dir}/banking77", tmp_path / "banking77")
    (tmp_path / "banking77" / "test.csv").chmod(0o644)
    with open(tmp_path / "banking77" / "test.csv", "a") as f: f.write("extra,row\n")
    with pytest.raises(DatasetUnavailable, match="checksum mismatch"): dataset_dir("banking77", tmp_path)

def test_unreachable_download_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("SLM_AGENTS_DATA_DIR", raising=False)
    monkeypatch.setenv("SLM_AGENTS_CACHE", str(tmp_path))
    import urllib.request
    def refuse(*a, **k): raise OSError("network unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DatasetUnavailable, match="--data-dir"): dataset_dir("scitldr")

def test_written_mix_reads_back_without_quarantine(tmp_path, data_dir):
    info = write_agent_mix(tmp_path / "mix.jsonl", 25, data_dir)
    for path in (info["jsonl"], info["parquet"]):
        calls, quar = read_calls(path)
        assert (len(calls), len(quar)) == (150, 0)

def test_dev_logs_have_templated_prompts_real_agent_steps_and_a_disjoint_holdout(data_dir):
    from slm_agents.datasets import dev_log, mt_entries
    logs = {name: dev_log(name, data_dir) for name in ("templated", "agent-loop", "holdout")}
    # the templated intent site: many labels, few calls each, a different system prompt on every call
    intents = [c for c in logs["templated"] if c.task == "intent_router"]
    per_label = Counter(c.reference for c in intents)
    assert sum(n <= 5 for n in per_label.values()) >= 60
    assert len({c.request["messages"][0]["content"] for c in intents}) == len(intents)
    assert all(call_output(c) in c.request["messages"][0]["content"].splitlines() for c in intents)
    # an agent-loop conversation: each step answers the next gold call and sees the earlier tool results
    steps = [c for c in logs["agent-loop"] if c.task == "workspace_agent"]
    conv_id = steps[0].tags["source_id"].split("/")[0]
    conv = [c for c in steps if c.tags["source_id"].split("/")[0] == conv_id]
    gold = next(g for q, g in mt_entries("base") if q["id"] == conv_id)
    want = [expr.split("(")[0] for turn in gold for expr in turn + ["reply"]]
    got = [tc[0]["function"]["name"] if (tc := call_tool_calls(c)) else "reply" for c in conv]
    assert got == want
    for prev, step in zip(conv, conv[1:]):
        if call_tool_calls(prev):
            done, result = step.request["messages"][-2:]
            assert done["tool_calls"] == call_tool_calls(prev)
            assert result["role"] == "tool" and result["tool_call_id"] == done["tool_calls"][0]["id"] and result["content"]
        assert step.request["messages"][:len(prev.request["messages"])] == prev.request["messages"]
    assert all(isinstance(call_output(c), str) for c in conv if not call_tool_calls(c))
    # the holdout shares no record with the development logs
    def record(c):   # base and long_context conversations with the same number are one record
        sid = c.tags["source_id"]
        return ("multi_turn", sid.split("/")[0].rsplit("_", 1)[1]) if c.source.startswith("bfcl_multi_turn") else (c.source, sid)
    def records(calls): return {record(c) for c in calls}
    assert not records(logs["holdout"]) & (records(logs["templated"]) | records(logs["agent-loop"]))
