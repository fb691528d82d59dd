import json
import pytest, yaml
import polars as pl
from slm_agents.cli import main
from slm_agents.datasets import write_agent_mix
from slm_agents.pipeline import STAGE_NAMES, STAGES, StageFailed, run

TEST = yaml.safe_load(open(__file__.rsplit("/", 2)[0] + "/params/test.yaml"))   # the test sizes

@pytest.fixture(scope="module")
def mix(tmp_path_factory, data_dir):
    return write_agent_mix(tmp_path_factory.mktemp("mix") / "mix.jsonl", 4, data_dir)

def test_a_stage_runs_through_papermill_and_resumes(tmp_path, mix):
    "The whole pipeline runs once, in test_e2e; here one stage: parameters injected, then skipped, then forced."
    res = run(mix["jsonl"], tmp_path / "run", until="ingest", params=TEST)
    assert [r.status for r in res] == ["done"]
    calls = pl.read_parquet(tmp_path / "run" / "calls.parquet")
    assert len(calls) == 24 and len(pl.read_parquet(tmp_path / "run" / "quarantine.parquet")) == 0
    executed = json.loads((tmp_path / "run" / "00_ingest.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert yaml.safe_load((tmp_path / "run" / "params.yaml").read_text())["logs"] == mix["jsonl"]
    assert run(mix["jsonl"], tmp_path / "run", until="ingest", params=TEST)[0].status == "skipped"
    assert run(mix["jsonl"], tmp_path / "run", until="ingest", params=TEST, force=True)[0].status == "done"

def test_a_missing_stage_notebook_is_reported_not_built(tmp_path, mix, monkeypatch):
    import shutil
    from slm_agents.pipeline import nbs_dir
    (tmp_path / "nbs").mkdir(); shutil.copy(nbs_dir() / STAGES[0].notebook, tmp_path / "nbs")
    monkeypatch.setenv("SLM_AGENTS_NBS", str(tmp_path / "nbs"))
    res = run(mix["jsonl"], tmp_path / "run")
    assert [r.status for r in res] == ["done", "not built"] and res[-1].detail == f"{STAGES[1].notebook} does not exist yet"

def test_bad_records_reach_the_run_quarantine(tmp_path, mix):
    logs = tmp_path / "logs.jsonl"
    logs.write_text(open(mix["jsonl"]).read() + "{oops\n")
    run(logs, tmp_path / "run", until="ingest")
    q = pl.read_parquet(tmp_path / "run" / "quarantine.parquet")
    assert q["line"].to_list() == [25] and q["reason"][0].startswith("malformed JSON")

def test_failing_stage_names_notebook_and_cell(tmp_path):
    with pytest.raises(StageFailed, match=r"00_schema.ipynb, cell \d+ .*FileNotFoundError: no log at"):
        run(tmp_path / "missing.jsonl", tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["status"] == "failed"

def test_cli_params_file_and_overrides(tmp_path, mix, capsys):
    (tmp_path / "p.yaml").write_text("max_record_bytes: 10\n")
    assert main(["run", mix["jsonl"], "--run-dir", str(tmp_path / "r1"), "--until", "ingest", "-f", str(tmp_path / "p.yaml")]) == 0
    assert len(pl.read_parquet(tmp_path / "r1" / "calls.parquet")) == 0   # every record is over 10 bytes
    assert main(["run", mix["jsonl"], "--run-dir", str(tmp_path / "r2"), "--until", "ingest", "-f", str(tmp_path / "p.yaml"),
                 "-p", "ingest.max_record_bytes=1000000"]) == 0
    assert len(pl.read_parquet(tmp_path / "r2" / "calls.parquet")) == 24
    assert "ingest     done" in capsys.readouterr().out
