import hashlib, importlib.util, json, os, sys, tomllib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_proof", ROOT / "benchmarks" / "gpu_proof.py")
gp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gp)

def test_wheels_are_the_gpu_extra_pins_for_the_gpu_machine():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wheels = gp.wheel_list()
    unsloth = [p for p in project["optional-dependencies"]["gpu"] if p.startswith("unsloth")]
    assert unsloth and set(unsloth) <= set(wheels) and all("==" in w for w in wheels)
    assert any(w.startswith("trl==") and w in " ".join(project["dependencies"]) for w in wheels)
    assert len({w.split("==")[0].lower().replace("_", "-") for w in wheels}) == len(wheels)      # one version each
    cmd = gp.download_command("/tmp/x")
    assert cmd[cmd.index("--python-version") + 1] == "3.12" and "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[-len(wheels):] == wheels

def test_parts_pack_into_batches_under_the_limit_and_join_back(tmp_path):
    src = tmp_path / "src"; src.mkdir()
    blobs = {"a.whl": os.urandom(250), "b.gguf": os.urandom(90), "c.jsonl": os.urandom(30)}
    for n, b in blobs.items(): (src / n).write_bytes(b)
    parts = tmp_path / "parts"; parts.mkdir()
    files = [gp.split(src / n, parts, size=100) for n in blobs]
    assert [len(f["parts"]) for f in files] == [3, 1, 1]
    sizes = {p.name: p.stat().st_size for p in parts.iterdir()}
    plan = gp.batches(sizes, limit=120)
    assert sorted(n for b in plan for n in b) == sorted(sizes) and all(sum(sizes[n] for n in b) <= 120 for b in plan)
    with pytest.raises(ValueError, match="over the"): gp.batches({"big": 121}, limit=120)
    assert [p.read_bytes() for p in gp.join(parts, {"files": files})] == list(blobs.values())
    (parts / files[0]["parts"][1]).write_bytes(os.urandom(100))                   # a damaged part is caught
    with pytest.raises(ValueError, match="SHA-256"): gp.join(parts, {"files": files})

def test_the_proof_runs_its_cpu_smoke_and_compares(tmp_path, data_dir):
    rec = gp.run(tmp_path, tmp_path / "out", "peft", smoke=True)
    assert rec["specialist"]["backend"] == "peft" and rec["specialist"]["n_test"] == 4
    assert rec["speed"]["backend"] == "peft" and rec["speed_model"]["weights"].startswith("random")
    assert json.loads((tmp_path / "out" / "gpu_proof_peft.json").read_text()) == rec
    fake = rec | {"backend": "unsloth", "speed": rec["speed"] | {"tokens_per_s": 300, "peak_gb": 2.0}}
    (tmp_path / "out" / "gpu_proof_unsloth.json").write_text(json.dumps(fake))
    (tmp_path / "out" / "gpu_proof_peft.json").write_text(json.dumps(rec | {"speed": rec["speed"] | {"tokens_per_s": 100, "peak_gb": 4.0}}))
    ratios = gp.compare(tmp_path / "out")["unsloth_vs_peft"]
    assert (ratios["tokens_per_s"], ratios["peak_memory"]) == (3.0, 0.5)
