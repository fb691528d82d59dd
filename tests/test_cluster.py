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

SCHEMAS = ("singer concert stadium album track pilot flight airport school student teacher course hospital doctor"
           " nurse store product order farm crop").split()

def _templated_log(n_sql=400, n_other=200):
    "A text-to-SQL call site whose system prompt carries one of 20 schemas (the only thing that varies in its template)."
    from slm_agents.schema import Call, calls_frame
    def resp(text): return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    calls = []
    for i in range(n_sql):
        db = SCHEMAS[i % 20]
        cols = ", ".join(f"{db}_{c} TEXT" for c in ("name", "kind", "place")[: 1 + i % 3])
        schema = f"CREATE TABLE {db} (id INTEGER PRIMARY KEY, {cols});\nCREATE TABLE {db}_event (id INTEGER, {db}_id INTEGER, at DATE);"
        system = f"You translate questions into SQLite.\nDatabase schema:\n{schema}\nReturn one SQL query and nothing else."
        q = f"How many {db} rows have more than {i % 7 + 1} events?"
        calls.append(Call(f"sql-{i:04d}", {"messages": [{"role": "system", "content": system}, {"role": "user", "content": q}]},
                          resp(f"SELECT COUNT(*) FROM {db} WHERE id IN (SELECT {db}_id FROM {db}_event GROUP BY 1 HAVING COUNT(*) > {i % 7 + 1});"),
                          node="sql", task="sql"))
    for i in range(n_other):
        system = "Classify the sentiment of the customer review. Answer with one word: positive, negative or neutral."
        text = f"The {SCHEMAS[i % 20]} I bought is {('great', 'awful', 'fine')[i % 3]}, order {i}."
        calls.append(Call(f"rev-{i:04d}", {"messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]},
                          resp(("positive", "negative", "neutral")[i % 3]), node="review", task="review"))
    return calls_frame(calls)

def test_a_templated_call_site_is_one_task(tmp_path, embedder):
    "Twenty schemas in the SQL prompt are slots, not twenty tasks."
    df = _templated_log()
    write_calls(df, tmp_path / "curated.parquet")
    res = run_cluster(tmp_path, embedder=embedder)
    lab = pl.read_parquet(tmp_path / "clusters.parquet").join(df.select("call_id", "task"), on="call_id")
    sql = lab.filter(pl.col("task") == "sql")["cluster"].value_counts(sort=True)
    assert sql["count"][0] / len(lab.filter(pl.col("task") == "sql")) >= 0.8
    assert res["scores_vs_task"]["ari"] >= 0.9
    card = next(c for c in res["cards"] if c["cluster"] == sql["cluster"][0])
    assert "<slot>" in card["template"]["instruction"] and "CREATE TABLE" not in card["template"]["instruction"]
    tpl = json.loads((tmp_path / "templates.json").read_text())
    assert "Return one SQL query and nothing else." in tpl["instruction"]
