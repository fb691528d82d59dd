"""One round of iteration on the shop assistant's run: a call site it never saw, and a specialist whose inputs shifted."""
import json
import pytest
from slm_agents.cli import main
from slm_agents.router import Router
from shoplog import TRANSLATE, next_round_log

SMALL = ["-p", "iterate.n_replay=20", "-p", "iterate.min_accepted=2", "-p", "iterate.min_train=10", "-p", "iterate.steps=4",
         "-p", "iterate.batch_size=4", "-p", "iterate.max_length=128", "-p", "select.min_train=10",
         "-p", 'select.candidates=["smollm2-135m-instruct"]']

def _read(d, name): return json.loads((d / name).read_text())

def _captured(tmp_path, logs) -> tuple:
    "The calls of `logs` in an encrypted capture store, as the gateway keeps them: (store folder, admin key file)."
    from slm_agents.capture import CallStore, generate_keys
    priv, pub = generate_keys()
    store = CallStore(tmp_path / "calls", "writer", pub)
    for i, line in enumerate(logs.read_text().splitlines()):
        c = json.loads(line)
        store.record(1.78e9 + i, c["agent"], "shop", c["request"], c["response"], 0.5, tags={"route": "llm"})
    store.close()
    (tmp_path / "admin.key").write_text(priv)
    return tmp_path / "calls", tmp_path / "admin.key"

def test_a_call_site_never_seen_is_reported_and_kept_on_the_llm(shop_run, tmp_path):
    "New traffic read from a capture store: a call site the first run never saw is out of distribution and stays on the LLM."
    _, rd, _ = shop_run
    store, key = _captured(tmp_path, next_round_log(tmp_path / "next.jsonl", "translate", n=60))
    assert main(["iterate", str(rd), str(store), "--run-dir", str(tmp_path / "r2")] + SMALL) == 1   # a store needs the key
    assert main(["iterate", str(rd), str(store), "--key-file", str(key), "--run-dir", str(tmp_path / "r2")] + SMALL) == 0
    d = _read(tmp_path / "r2", "drift.json")
    assert d["ood_share"] >= 0.9 and len(d["new_tasks"]) == 1                # one task the first run never saw
    assert d["unseen_instruction_share"] == 1.0                               # its system prompt is new to every cluster
    assert d["new_tasks"][0]["format"]["dominant"] == "free_text"
    rec = _read(tmp_path / "r2", "iteration.json")
    assert rec["after"]["replacement_rate"] == 0.0 and {o["verdict"] for o in rec["clusters"].values()} <= {"keep", "llm"}
    router = Router.load(tmp_path / "r2")
    d = router.decide({"messages": [{"role": "system", "content": TRANSLATE}, {"role": "user", "content": "Your lamp will ship on Monday."}]})
    assert d.route == "llm" and "confidence" in d.reason
    assert (tmp_path / "r2" / "iteration.html").read_text().count("data:image/png;base64") == 1

def test_a_specialist_whose_inputs_shifted_is_retrained_and_compared(shop_run, tmp_path):
    _, rd, _ = shop_run
    heads = {c: json.loads((rd / "heads" / c / "head.json").read_text()) for c in _read(rd, "selection.json") if (rd / "heads" / c).is_dir()}
    triage = next(c for c, h in heads.items() if "positive" in h["labels"])
    logs = next_round_log(tmp_path / "next.jsonl", "german", n=80)
    assert main(["iterate", str(rd), str(logs), "--run-dir", str(tmp_path / "r2")] + SMALL) == 0
    rec = _read(tmp_path / "r2", "iteration.json")
    o = rec["clusters"][triage]
    caught = "fell" in o["why"] or "of the LLM's quality on new calls" in o["why"]
    assert o["verdict"] == "retrain" and caught          # fewer answers accepted, or the accepted ones worse: both reported
    assert o["old"]["n"] == o["new"]["n"] > 0 and o["result"] in ("replaced", "kept", "retired")
    others = [x["verdict"] for c, x in rec["clusters"].items() if c != triage]
    assert others and "retrain" not in others           # kept, or already on the LLM (a 6-step adapter may not pass)
    assert _read(tmp_path / "r2", "drift.json")["unseen_instruction_share"] == 0.0   # same instruction, new inputs
    entry = _read(tmp_path / "r2" / "router", "router.json")["clusters"][triage]
    assert entry["route"] == ("llm" if o["result"] == "retired" else "slm")
    assert rec["after"]["quality_retention"] >= rec["before"]["quality_retention"]
    assert _read(tmp_path / "r2", "drift.json")["now"][triage]["served"] < _read(tmp_path / "r2", "drift.json")["before"][triage]["served"]
