import json
import polars as pl
import pytest
from slm_agents.cluster import run_cluster
from slm_agents.datasets import agent_mix
from slm_agents.models import ModelSpec, generate, load, materialise, prompt_text
from slm_agents.schema import write_calls
from slm_agents.formats import parse_tool_calls, target_text
from slm_agents.select import bfcl_valid, read_selection, run_select, score_output, selection_table

def test_bfcl_checker_accepts_the_logged_gold_calls(data_dir):
    df = agent_mix(None, data_dir).filter(pl.col("task") == "tool_call")
    ok = [bfcl_valid(r["source"], json.loads(r["tags"])["source_id"], r["reference"], parse_tool_calls(target_text(json.loads(r["response"]))))
          for r in df.iter_rows(named=True)]
    assert sum(ok) / len(ok) >= 0.98
    r = df.row(0, named=True)
    wrong = [{"name": "not_a_tool", "arguments": {}}]
    assert not bfcl_valid(r["source"], json.loads(r["tags"])["source_id"], r["reference"], wrong)

def test_score_output_per_format(data_dir):
    mix = agent_mix(5, data_dir, seed=2)
    by_node = {r["node"]: r for r in mix.iter_rows(named=True)}
    intent = by_node["intent_classifier"]; gold = target_text(json.loads(intent["response"]))
    assert score_output("label", gold, intent, {gold}) == (1.0, True)
    assert score_output("label", "no idea", intent, {gold}) == (0.0, False)
    ent = by_node["entity_extractor"]
    assert score_output("json", target_text(json.loads(ent["response"])), ent)[0] == 1.0
    assert score_output("json", "not json", ent) == (0.0, False)
    summ = by_node["summarizer"]
    assert score_output("free_text", target_text(json.loads(summ["response"])), summ)[0] == pytest.approx(1.0)
    tool = by_node["tool_call_python"]
    assert score_output("tool_call", target_text(json.loads(tool["response"])), tool) == (1.0, True)

def test_select_writes_a_route_and_reason_for_every_cluster(tmp_path, data_dir):
    write_calls(agent_mix(30, data_dir, seed=4), tmp_path / "curated.parquet")
    clusters = run_cluster(tmp_path)
    sel = run_select(tmp_path, candidates=("smollm2-135m-instruct",), n_eval=3, shots=1, min_train=15, min_valid=0.0, label_head=False, formats=("label",))
    assert set(sel) == {c["cluster"] for c in clusters["cards"]}                 # integer cluster ids
    tried = [e for e in sel.values() if e["format"] == "label" and e["route"] == "slm"]
    assert tried, sel
    for e in sel.values():
        assert e["route"] in ("slm", "llm") and e["reason"]
        if e["format"] != "label": assert e["route"] == "llm" and e["model"] is None
    for e in tried:
        assert e["model"] == "smollm2-135m-instruct" and 0 <= e["baselines"][e["model"]]["few_shot"]["score"] <= 1
    assert read_selection(tmp_path) == sel                                       # the file's "0", "1", … read back as ids
    strict = run_select(tmp_path, n_eval=3, min_train=10_000)
    assert all(e["route"] == "llm" and e["reason"].startswith(("too few", "noise")) for e in strict.values())
    assert len(selection_table(strict)) == len(strict)

def test_any_local_hf_folder_is_a_candidate():
    path = materialise("smollm2-135m-instruct")
    model, tok = load(ModelSpec.from_path(str(path), name="local-smollm2"))
    p = [prompt_text(tok, [{"role": "user", "content": "Say hi"}])] * 3
    assert generate(model, tok, p, max_new_tokens=5, batch_size=3) == generate(model, tok, p, max_new_tokens=5, batch_size=1)
