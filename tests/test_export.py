import json
import polars as pl
import pytest
from slm_agents.cli import main
from slm_agents.datasets import agent_mix
from slm_agents.finetune import TrainConfig, fit_adapter

@pytest.fixture(scope="module")
def small_run(tmp_path_factory, data_dir):
    "A run folder with what export reads: curated calls, clusters, S4's formats and one intent adapter (cluster 0)."
    d = tmp_path_factory.mktemp("export_run")
    calls = agent_mix(None, data_dir, sample=1500, seed=5).filter(pl.col("node") == "intent_classifier")
    calls.write_parquet(d / "curated.parquet")
    calls.select("call_id", pl.lit(0).alias("cluster")).write_parquet(d / "clusters.parquet")
    (d / "selection.json").write_text(json.dumps({"0": {"format": "label"}, "1": {"format": "free_text"}}))
    cfg = TrainConfig(steps=10, batch_size=4, max_length=160, shots=1)
    fit_adapter("smollm2-135m-instruct", calls.head(120).to_dicts(), d / "adapters" / "0", cfg)
    return d

def test_gguf_export_answers_as_the_adapter(small_run, tmp_path, capsys):
    out = tmp_path / "intents.gguf"
    assert main(["export", str(small_run), "0", "--to", "gguf", "--out", str(out), "--check", "8"]) == 0
    assert out.read_bytes()[:4] == b"GGUF"
    side = out.with_suffix(".specialist")
    chk = json.loads((side / "export_check.json").read_text())
    assert chk["n_checked"] == 8 and chk["agreement"] >= 7 / 8 and len(chk["differing"]) == 8 - round(chk["agreement"] * 8)
    spec = json.loads((side / "specialist.json").read_text())
    assert spec["prune_rule"]["system"] and spec["shots"] == 1 and (side / "shots.parquet").exists()

def test_export_of_a_cluster_without_adapter_fails_clearly(small_run, tmp_path, capsys):
    assert main(["export", str(small_run), "1", "--out", str(tmp_path / "m")]) == 1
    assert "only clusters S5 fine-tuned can be exported" in capsys.readouterr().err

def test_llama_cpp_serves_as_transformers_does(small_run):
    pytest.importorskip("llama_cpp")
    from slm_agents.export import LlamaCppModel, adapter_dir, held_out, load_specialist
    from slm_agents.formats import ShotBank, specialist_prompts
    from slm_agents.models import generate_scored
    adir = adapter_dir(small_run, 0)
    reqs, _ = held_out(small_run, 0, 8)
    outs = {}
    for engine in ("transformers", "llama.cpp"):
        m, tok, info = load_specialist(adir, engine)
        prompts = specialist_prompts(tok, reqs, info["prune_rule"], ShotBank.load(adir), info["config"]["context_tokens"])
        outs[engine] = generate_scored(m, tok, prompts, 16, batch_size=4)
    assert isinstance(m, LlamaCppModel)
    same = [a[0] == b[0] for a, b in zip(outs["transformers"], outs["llama.cpp"])]
    assert sum(same) >= 7                                               # greedy answers match
    # confidences agree to a few points (f16 weights there, bf16 autocast here); the router calibrates on the serving engine
    assert all(abs(a[1] - b[1]) < 0.1 for a, b, s in zip(outs["transformers"], outs["llama.cpp"], same) if s)
    stamp = (adir / "specialist.gguf.sha").read_text()
    (adir / "train_config.json").write_text((adir / "train_config.json").read_text() + " ")   # the adapter changed
    load_specialist(adir, "llama.cpp")
    assert (adir / "specialist.gguf.sha").read_text() != stamp                                # so its GGUF was rebuilt

def test_llama_cpp_decodes_within_the_labels_as_transformers_does(small_run):
    pytest.importorskip("llama_cpp")
    from slm_agents.export import adapter_dir, held_out, load_specialist
    from slm_agents.formats import ShotBank, specialist_prompts
    from slm_agents.models import answer_constraint, generate_scored
    from slm_agents.formats import target_text
    calls = pl.read_parquet(small_run / "curated.parquet")
    labels = sorted({target_text(json.loads(r)) for r in calls["response"]})
    adir = adapter_dir(small_run, 0)
    reqs, _ = held_out(small_run, 0, 8)
    cons = [answer_constraint("label", q, labels) for q in reqs]
    outs = {}
    for engine in ("transformers", "llama.cpp"):
        m, tok, info = load_specialist(adir, engine)
        prompts = specialist_prompts(tok, reqs, info["prune_rule"], ShotBank.load(adir), info["config"]["context_tokens"])
        outs[engine] = [o for o, _ in generate_scored(m, tok, prompts, 16, batch_size=4, constraints=cons)]
    assert all(o in labels for o in outs["llama.cpp"] + outs["transformers"])
    assert sum(a == b for a, b in zip(outs["transformers"], outs["llama.cpp"])) >= 7
