"""The whole pipeline, raw log to report, on a log from an agent it has never seen (OpenAI-style JSONL, no split tags, no
references, no task labels), run through papermill like the README's demo, at a tiny size."""
import json
import pytest
import polars as pl
from slm_agents.capture import CallStore, LoopbackLLM, generate_keys
from slm_agents.pipeline import STAGE_NAMES, STAGES, StageFailed, run
from slm_agents.router import LLMClient, Router
from slm_agents.select import HEAD
from shoplog import ITEMS, TINY, TRIAGE, WORDS

def test_pipeline_runs_from_an_unseen_log_to_report(shop_run):
    logs, rd, res = shop_run
    assert [r.stage for r in res if r.status == "done"] == list(STAGE_NAMES)
    for stage in STAGES:
        for o in stage.outputs: assert (rd / o).exists(), o
    peak = json.loads((rd / "timing.json").read_text())["peak_rss_mb"]      # a running maximum over the stage processes
    assert list(peak) == list(STAGE_NAMES) and 0 < peak["ingest"] and list(peak.values()) == sorted(peak.values())
    clusters = pl.read_parquet(rd / "clusters.parquet")
    assert clusters["cluster"].dtype == pl.Int64 and len(clusters) == len(pl.read_parquet(rd / "curated.parquet"))
    m = json.loads((rd / "metrics.json").read_text())
    assert m["n_calls"] == 120 and m["clustering"]["n_clusters"] == 3 and m["clustering"]["ari"] is None   # no task labels in this log
    assert m["n_eval"] > 0 and m["quality_llm"] == 1.0                                              # no reference: the LLM is the teacher
    preds = pl.read_parquet(rd / "eval" / "predictions.parquet")
    assert len(preds) == m["n_eval"] == sum(e["n"] for e in m["clusters"].values())
    assert m["replacement_rate"] == round(float((preds["route"] == "slm").mean()), 4)
    assert sum(m["fallback_reasons"].values()) == int((preds["route"] == "llm").sum())
    rc = json.loads((rd / "router" / "router.json").read_text())
    for cid, e in m["clusters"].items():
        assert e["route"] == rc["clusters"][cid]["route"] and e["reason"]
    assert (rd / "adapters").is_dir() and (rd / "eval" / "predictions.parquet").exists()
    sel = json.loads((rd / "selection.json").read_text())
    assert {e["model"] for e in sel.values() if e["format"] == "label"} == {HEAD}     # the closed label set: the cheapest candidate
    trained = set(json.loads((rd / "finetune.json").read_text())) | {c for c, e in sel.items() if e["model"] == HEAD}
    assert set(m["timing"]["break_even"]) == trained                    # what each specialist cost to make (measured time)
    cal = pl.read_parquet(rd / "router" / "calibration.parquet")
    head_ids = [int(c) for c, e in sel.items() if e["model"] == HEAD]
    assert set(cal.filter(pl.col("cluster").is_in(head_ids))["part"]) == {"val", "crossfit"}   # S4's out-of-fold answers join
    assert {e["model"] for e in sel.values() if e["format"] == "tool_call"} == {"smollm2-135m-instruct"}
    tools = [c for c, e in sel.items() if e["format"] == "tool_call"]
    assert tools and all(sel[c]["constrained"] and sel[c]["max_calls"] >= 1 for c in tools)     # decoded within the schema
    assert all(rc["clusters"][c]["constrained"] for c in tools if "calibration" in rc["clusters"][c])
    trained_tools = [c for c in tools if (rd / "adapters" / c / "train_config.json").exists()]
    assert trained_tools
    for c in trained_tools:                 # S4 reserved training calls for the router's threshold: S5 did not train on them
        info = json.loads((rd / "adapters" / c / "train_config.json").read_text())
        assert sel[c]["reserved"] and info["n_examples"] == sel[c]["n_train"] - len(sel[c]["reserved"])
        used = cal.filter((pl.col("cluster") == int(c)) & (pl.col("part") == "reserved"))["call_id"]
        assert set(used) <= set(sel[c]["reserved"])
    served = pl.read_parquet(rd / "eval" / "predictions.parquet").filter(pl.col("route") == "slm")
    assert served["slm_valid"].all() and served["pred_cluster"].cast(pl.String).is_in([c for c, e in rc["clusters"].items() if e["route"] == "slm"]).all()
    html = (rd / "report.html").read_text()
    assert "What stays on the LLM" in html and html.count("data:image/png;base64") >= 4
    prov = json.loads((rd / "provenance.json").read_text())
    assert prov["stages"]["finetune"]["steps"] == 6 and prov["stages"]["cluster"]["seed"] == 0 and len(prov["logs_sha256"]) == 64

def test_retraining_reproduces_the_adapters(shop_run, tmp_path):
    "Training again from the same curated calls and selection gives the same weights, loss and scores (so the same metrics)."
    import shutil
    logs, rd, _ = shop_run
    again = shutil.copytree(rd, tmp_path / "again")
    shutil.rmtree(again / "adapters")                                   # finetune's outputs are gone: it trains again
    res = run(logs, again, params=TINY, until="finetune")
    assert [r.status for r in res] == ["skipped"] * 4 + ["done"]

    def trained(d):
        ft = json.loads((d / "finetune.json").read_text())
        weights = {p.parent.name: p.read_bytes() for p in (d / "adapters").glob("*/adapter_model.safetensors")}
        return {c: (e["train"]["final_loss"], e["finetuned"]) for c, e in ft.items()}, weights

    a, b = trained(rd), trained(again)
    assert a[1] and a == b

def test_resume_skips_up_to_date_and_reruns_stale(shop_run, tmp_path):
    import shutil
    logs, rd, _ = shop_run
    rd = shutil.copytree(rd, tmp_path / "copy")                         # a moved run directory resumes too
    assert {r.status for r in run(logs, rd, params=TINY)} == {"skipped"}
    res = run(logs, rd, params=TINY | {"evaluate.llm_usd_per_1m_out": 20.0})
    assert [r.status for r in res] == ["skipped"] * 6 + ["done"] and res[-1].detail == "stale: parameters changed (llm_usd_per_1m_out)"

def test_a_review_merges_excludes_renames_and_reruns_only_what_acts_on_it(shop_run, tmp_path):
    "review.yaml merges the two label sites into one head and keeps the tool site on the LLM; a rename re-runs the report."
    import shutil
    logs, rd, _ = shop_run
    rd = shutil.copytree(rd, tmp_path / "reviewed")
    sel = json.loads((rd / "selection.json").read_text())
    labels = sorted(int(c) for c, e in sel.items() if e["format"] == "label")
    tool = next(int(c) for c, e in sel.items() if e["format"] == "tool_call")
    assert len(labels) == 2 and (rd / "adapters" / str(tool) / "adapter_config.json").exists()
    (rd / "review.yaml").write_text(f"merge: [{labels}]\nexclude: [{tool}]\n")
    assert [r.status for r in run(logs, rd, params=TINY)] == ["skipped"] * 2 + ["done"] * 5
    cl = pl.read_parquet(rd / "clusters.parquet")
    assert set(cl["found"]) == {*labels, tool} and set(cl["cluster"]) == {labels[0], tool}
    sel = json.loads((rd / "selection.json").read_text())
    assert sel[str(tool)]["route"] == "llm" and sel[str(tool)]["reason"] == "excluded by review"
    assert sel[str(labels[0])]["model"] == HEAD and str(labels[1]) not in sel
    head = json.loads((rd / "heads" / str(labels[0]) / "head.json").read_text())
    assert {"positive", "shipping"} <= set(head["labels"])                 # one head over both label sets
    assert not (rd / "adapters" / str(tool)).exists()                      # the earlier adapter is gone, not served
    route = json.loads((rd / "router" / "router.json").read_text())["clusters"][str(tool)]
    assert route["route"] == "llm" and route["reason"] == "excluded by review"
    (rd / "review.yaml").write_text(f"merge: [{labels}]\nexclude: [{tool}]\nrename: {{{labels[0]}: shop_labels}}\n")
    assert [r.status for r in run(logs, rd, params=TINY)] == ["skipped"] * 6 + ["done"]
    m = json.loads((rd / "metrics.json").read_text())
    assert m["clusters"][str(labels[0])]["name"] == "shop_labels"
    assert [x["decision"] for x in m["review"]] == ["merge", "exclude", "rename"]
    assert "shop_labels" in (rd / "report.html").read_text()
    (rd / "review.yaml").write_text(f"exclude:\n  - {tool}\n  - 99\n")
    with pytest.raises(StageFailed, match="review.yaml line 3: unknown cluster 99"):
        run(logs, rd, params=TINY)

def test_router_loads_in_another_process_and_falls_back_over_http(shop_run, tmp_path):
    _, rd, _ = shop_run
    priv, pub = generate_keys()
    reply = {"role": "assistant", "content": "neutral"}
    with LoopbackLLM(lambda req: reply) as srv:
        router = Router.load(rd, LLMClient(srv.base_url, srv.api_key), store=CallStore(tmp_path / "store", "writer", pub))
        out = [router.complete({"messages": [{"role": "system", "content": TRIAGE}, {"role": "user", "content": f"The {x} is fine."}]}) for x in ITEMS[:4]]
        router.store.close()
    for resp, d in out:
        assert d.route in ("slm", "llm") and d.reason and d.cluster >= 0
        if d.route == "llm": assert resp["choices"][0]["message"]["content"] == "neutral" and len(srv.requests) > 0
        else: assert resp["model"].startswith("slm:") and resp["choices"][0]["message"]["content"] in WORDS
    assert len({d.cluster for _, d in out}) == 1                           # one task, one cluster
    rows = CallStore(tmp_path / "store", "admin", priv).read_raw()
    assert len(rows) == 4 and {json.loads(t)["route"] for t in rows["tags"]} == {d.route for _, d in out}

def test_every_ingested_call_counts(shop_run):
    "Set-aside calls count as LLM-served: the _all rates weigh each cluster by its share of all ingested calls."
    _, rd, _ = shop_run
    m = json.loads((rd / "metrics.json").read_text())
    assert m["n_curated"] < m["n_calls"]                                  # near duplicates were set aside
    assert m["share_set_aside"] == round(1 - m["n_curated"] / m["n_calls"], 4)
    served = sum(e["share_all"] * e["replacement_rate"] for e in m["clusters"].values() if e.get("n"))
    assert abs(m["replacement_rate_all"] - served) < 1e-3 and m["replacement_rate_all"] <= 1 - m["share_set_aside"]
    assert "ingested calls" in (rd / "report.html").read_text()
    parts = m["llm_traffic"]                                              # what the LLM still serves, by part
    assert abs(sum(t["llm_share_all"] for t in parts) + m["replacement_rate_all"] - 1) < 1e-3
    assert [t["cluster"] for t in parts if t["cluster"] == "set aside"] == ["set aside"]

def test_a_long_agent_turn_is_routed(shop_run, tmp_path):
    "A 40-step conversation with tool results, far over the specialist's window, gets a decision and an answer."
    _, rd, _ = shop_run
    msgs = [{"role": "system", "content": TRIAGE}]
    for i in range(40):
        msgs += [{"role": "user", "content": f"The {ITEMS[i % 8]} is fine, and here is my long story. " * 20},
                 {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{i}", "type": "function",
                  "function": {"name": "lookup", "arguments": json.dumps({"order": i})}}]},
                 {"role": "tool", "tool_call_id": f"c{i}", "content": json.dumps({"order": i, "status": "shipped"} )}]
    msgs.append({"role": "user", "content": "The lamp is fine."})
    request = {"messages": msgs}
    assert len(json.dumps(request)) > 40_000
    with LoopbackLLM(lambda req: {"role": "assistant", "content": "neutral"}) as srv:
        router = Router.load(rd, LLMClient(srv.base_url, srv.api_key))
        resp, d = router.complete(request)
    assert d.route in ("slm", "llm") and d.reason and resp["choices"][0]["message"]["content"]

class _Planted:
    "A pickle that, when loaded, would write a file: loading a run directory must never run it."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (str(self.path), "w"))

def test_a_run_directory_cannot_run_code_or_point_outside_itself(shop_run, tmp_path):
    import pickle, shutil
    _, rd, _ = shop_run
    rd = shutil.copytree(rd, tmp_path / "copy")
    cfg = json.loads((rd / "router" / "router.json").read_text())
    cid = next(c for c, e in cfg["clusters"].items() if e.get("adapter"))
    cfg["clusters"][cid]["adapter"] = "../../elsewhere"
    (rd / "router" / "router.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="outside the run directory"):
        Router.load(rd).specialist(int(cid))
    planted = tmp_path / "planted"
    (rd / "router" / f"classifier_{cfg['classifier']}.npz").write_bytes(pickle.dumps(_Planted(planted)))
    with pytest.raises(ValueError):
        Router.load(rd)
    assert not planted.exists()
