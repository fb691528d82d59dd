import json
import numpy as np, polars as pl
import pytest
from slm_agents.cluster import cluster, cluster_scores, embed_calls, load_embedder, reduce, run_cluster
from slm_agents.datasets import agent_mix
from slm_agents.schema import write_calls

@pytest.fixture(scope="module")
def embedder(): return load_embedder()

@pytest.fixture(scope="module")
def mix(data_dir):
    "A uniform sample of the agent-mix: the sources in their natural proportions."
    return agent_mix(None, data_dir).sample(n=900, seed=5)

def _labels(df, embedder, weights=None, seed=0):
    X = embed_calls([json.loads(r) for r in df["request"]], embedder, weights)
    _, Z = reduce(X, 10, seed)
    return cluster(Z, df["call_id"].to_list())

def test_clusters_recover_the_agent_tasks(mix, embedder):
    s = cluster_scores(_labels(mix, embedder), mix["task"])
    assert s["ari"] >= 0.9 and s["nmi"] >= 0.9

def test_weighting_the_parts_matters(mix, embedder):
    weighted = cluster_scores(_labels(mix, embedder), mix["task"])["ari"]
    user_only = cluster_scores(_labels(mix, embedder, {"instruction": 0, "tools": 0, "user": 1}), mix["task"])["ari"]
    assert weighted > user_only + 0.1

def test_ids_are_stable_and_eval_fields_unused(tmp_path, mix, embedder):
    write_calls(mix, tmp_path / "a" / "curated.parquet")
    scrambled = mix.with_columns(pl.lit("x").alias("task"), pl.lit("y").alias("source"), pl.lit(None, pl.String).alias("reference"))
    write_calls(scrambled, tmp_path / "b" / "curated.parquet")
    a = run_cluster(tmp_path / "a", embedder=embedder); b = run_cluster(tmp_path / "b", embedder=embedder)
    la, lb = (pl.read_parquet(tmp_path / d / "clusters.parquet") for d in "ab")
    assert la["cluster"].to_list() == lb["cluster"].to_list()
    assert la["cluster"].dtype == pl.Int64 and set(la["call_id"]) == set(mix["call_id"])
    sizes = [c["size"] for c in a["cards"] if c["cluster"] >= 0]
    assert sizes == sorted(sizes, reverse=True)
    assert a["scores_vs_task"]["ari"] >= 0.9 and a["n_clusters"] == b["n_clusters"]
    formats = {next(iter(c["nodes"])): c["format"]["dominant"] for c in a["cards"] if c["cluster"] >= 0}
    assert formats.get("intent_classifier") == "label" and formats.get("entity_extractor") == "json"
    assert formats.get("summarizer") == "free_text" and formats.get("tool_call_multi") == "tool_call"
    for p in ("cluster_map.png", "cluster_sizes.png", "cluster_formats.png"): assert (tmp_path / "a" / "plots" / p).exists()
