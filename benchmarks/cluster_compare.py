"""Three ways to find an agent's task types, side by side on the same log and the same MiniLM embeddings.

    .venv/bin/pip install -c constraints.txt -e ".[bench]"      # bertopic (+umap-learn) and drain3; -c keeps the CPU torch
    python benchmarks/cluster_compare.py LOG [LOG ...] [--sample N] [--out benchmarks/out/cluster_compare.json] [--drain3]

Methods (each call's `task`, the true call site, is used only for scoring):

1. `slm_agents` -- the project's S3: `run_cluster(run_dir)` with defaults on a temporary run dir whose `curated.parquet` is the log;
   it embeds internally (instruction / tools / user parts), so it is timed whole and its embedding share
   (time inside `SentenceTransformer.encode`) is reported next to it.
2. `bertopic` -- `BERTopic()` defaults (UMAP + HDBSCAN + c-TF-IDF) with `embedding_model` = the shipped all-MiniLM-L6-v2 and the
   precomputed embeddings of each call's document text passed to `fit_transform(docs, embeddings)`. The only change to the defaults:
   the default UMAP gets `random_state`. That does not make it repeat here (UMAP's spectral init differs run to run on a kNN graph
   split into many components), so it runs `--bertopic-runs` times (seeds 42, 43, ...) and the median-ARI run is reported with the spread.
3. `kmeans (OpenTracy)` -- KMeans the way OpenTracy's `lunar_router/clustering/pipeline.py` (`_cluster_auto`, `_adaptive_k_candidates`)
   does it: k from a data-size ladder ([5] under 100 traces, [5, 10, 15] under 500, [10, 20, 50] under 5,000, else [20, 50, 100]),
   `KMeans(n_init=10, max_iter=300, random_state=42)` per candidate, the best silhouette wins. `kmeans (silhouette 2..20)` is a
   supplementary row: the same KMeans with k chosen by silhouette over 2..20.

Document text (methods 2 and 3) = the whole request rendered as text: system/developer and user turns in order, then the tool names.
It is embedded once (the same `load_embedder()` MiniLM, bf16 on CPU as S3 does, 128-token window) and shared by 2 and 3;
that embedding time is reported once, separately, and is not in their seconds.

Scores per method: ARI and NMI vs `task` (noise, -1, counts as one label, as `slm_agents.cluster.cluster_scores` does), clusters found,
noise share, and for each true task the share of its calls held by its largest (non-noise) cluster -- min over tasks and per task.

`--drain3`: can the log-template miner drain3 recover call-site templates from the system prompts? Each call's system-prompt text
(newlines -> spaces) is one log message to a default `drain3.TemplateMiner()`; reports templates mined and ARI of template id vs `task`.
Separately every distinct system-prompt line is fed to a fresh miner; reports templates mined.
"""
from __future__ import annotations
import argparse, contextlib, json, logging, os, random, sys, tempfile, time
from collections import Counter, defaultdict
from pathlib import Path
import numpy as np, polars as pl
from tqdm.auto import tqdm

SEED = 42
log = logging.getLogger("cluster_compare")


def seed_everything(seed: int = SEED):
    random.seed(seed); np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch; torch.manual_seed(seed)
    except ImportError: pass


# ---------- data ----------
def _text(content) -> str:
    if isinstance(content, str): return content
    if isinstance(content, list): return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""

def doc_text(req: dict) -> str:
    "The whole request as a user would hand it to BERTopic: system/developer + user turns in order, then tool names."
    lines = [f"{m['role']}: {_text(m.get('content'))}" for m in req.get("messages", []) if m.get("role") in ("system", "developer", "user")]
    tools = [(t.get("function") or {}).get("name") or t.get("name") or "" for t in req.get("tools") or []]
    if tools: lines.append("tools: " + ", ".join(tools))
    return "\n".join(lines)

def system_text(req: dict) -> str:
    return "\n".join(_text(m.get("content")) for m in req.get("messages", []) if m.get("role") in ("system", "developer"))

def load_log(path, sample: int | None, seed: int = SEED) -> pl.DataFrame:
    from slm_agents.schema import read_calls
    df, quar = read_calls(path)
    if len(quar): log.warning("%s: %d records quarantined", path, len(quar))
    if sample and len(df) > sample: df = df.sample(sample, seed=seed, shuffle=False)
    return df


# ---------- scoring ----------
def scores(labels, truth) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    labels, truth = [int(x) for x in labels], [str(t) for t in truth]
    by_task = defaultdict(Counter)
    for l, t in zip(labels, truth): by_task[t][l] += 1
    held = {t: round(max((n for l, n in c.items() if l != -1), default=0) / sum(c.values()), 4) for t, c in sorted(by_task.items())}
    return {"ari": round(float(adjusted_rand_score(truth, labels)), 4), "nmi": round(float(normalized_mutual_info_score(truth, labels)), 4),
            "n_clusters": len(set(labels) - {-1}), "noise_share": round(labels.count(-1) / len(labels), 4),
            "min_task_held": min(held.values()), "task_held": held}


# ---------- embeddings shared by BERTopic and KMeans ----------
def embed_docs(model, docs: list[str], batch_size: int = 32) -> np.ndarray:
    "Unit vectors, each distinct doc embedded once (bf16 autocast on CPU, like S3's `embed_texts`)."
    import torch
    uniq = list(dict.fromkeys(docs))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=model.device.type == "cpu"):
        vecs = model.encode(uniq, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    index = {t: i for i, t in enumerate(uniq)}
    return np.asarray(vecs, dtype=np.float32)[[index[d] for d in docs]]


# ---------- method 1: the project's S3 ----------
@contextlib.contextmanager
def timed_encode(acc: list):
    "Add the seconds spent in SentenceTransformer.encode to acc[0] (S3's embedding share, whatever its internals call)."
    from sentence_transformers import SentenceTransformer
    orig = SentenceTransformer.encode
    def encode(self, *a, **k):
        t0 = time.perf_counter()
        try: return orig(self, *a, **k)
        finally: acc[0] += time.perf_counter() - t0
    SentenceTransformer.encode = encode
    try: yield acc
    finally: SentenceTransformer.encode = orig

def run_s3(df: pl.DataFrame) -> tuple[np.ndarray, dict]:
    from slm_agents.cluster import run_cluster
    from slm_agents.schema import write_calls
    with tempfile.TemporaryDirectory(prefix="cluster_compare_") as d:
        write_calls(df, Path(d) / "curated.parquet")
        acc = [0.0]; t0 = time.perf_counter()
        with timed_encode(acc): run_cluster(d)
        secs = time.perf_counter() - t0
        got = pl.read_parquet(Path(d) / "clusters.parquet").select("call_id", "cluster")
    lab = df.select("call_id").join(got, on="call_id", how="left")["cluster"].fill_null(-1).to_numpy()
    return lab, {"seconds_total": round(secs, 2), "seconds_embedding": round(acc[0], 2), "seconds": round(secs - acc[0], 2),
                 "embedding_share": round(acc[0] / secs, 3)}


# ---------- method 2: BERTopic defaults ----------
def bertopic_once(docs, X, embedder, seed: int):
    from bertopic import BERTopic
    tm = BERTopic(embedding_model=embedder)
    if hasattr(tm.umap_model, "random_state"): tm.umap_model.random_state = seed   # the only change to the defaults
    t0 = time.perf_counter(); topics, _ = tm.fit_transform(docs, X); secs = time.perf_counter() - t0
    names = {int(r["Topic"]): r["Name"] for r in tm.get_topic_info().to_dict("records")}
    return np.asarray(topics), secs, dict(list(names.items())[:25])

def run_bertopic(docs, X, embedder, truth, runs: int = 5, seed: int = SEED) -> tuple[np.ndarray, dict]:
    """BERTopic `runs` times (UMAP random_state seed, seed+1, ...); the run with the median ARI is reported, with the spread.
    Even with random_state, UMAP's default spectral init does not repeat exactly on logs whose kNN graph falls into many
    components (same embeddings, same graph, different layout), so one run is one draw."""
    draws = []
    for i in tqdm(range(runs), desc="bertopic runs", leave=False):
        seed_everything(seed + i)
        lab, secs, names = bertopic_once(docs, X, embedder, seed + i)
        draws.append((scores(lab, truth)["ari"], i, lab, secs, names))
    aris = sorted(d[0] for d in draws)
    med = sorted(draws, key=lambda d: (d[0], d[1]))[(len(draws) - 1) // 2]
    per = [{"seed": seed + d[1], **{k: v for k, v in scores(d[2], truth).items() if k != "task_held"}} for d in draws]
    return med[2], {"seconds": round(float(np.mean([d[3] for d in draws])), 2), "runs": runs, "reported_seed": seed + med[1],
                    "ari_min": aris[0], "ari_max": aris[-1], "n_clusters_range": [min(p["n_clusters"] for p in per), max(p["n_clusters"] for p in per)],
                    "min_task_held_range": [min(p["min_task_held"] for p in per), max(p["min_task_held"] for p in per)],
                    "per_run": per, "topic_names": med[4]}


# ---------- method 3: KMeans ----------
def opentracy_k_candidates(n: int) -> list[int]:
    "OpenTracy lunar_router/clustering/pipeline.py `_adaptive_k_candidates`."
    if n < 100: return [5]
    if n < 500: return [5, 10, 15]
    if n < 5000: return [10, 20, 50]
    return [20, 50, 100]

def kmeans_best_silhouette(X, ks, seed: int = 42, desc: str = "kmeans") -> tuple[np.ndarray, dict]:
    "OpenTracy's `_cluster_auto`: KMeans(n_init=10, max_iter=300, random_state=42) per k, keep the best silhouette."
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    t0 = time.perf_counter(); best, sil = (None, -1.0, None), {}
    for k in tqdm(ks, desc=desc, leave=False):
        if k >= len(X): continue
        lab = KMeans(n_clusters=k, n_init=10, max_iter=300, random_state=seed).fit_predict(X)
        if len(set(lab)) < 2: continue
        s = float(silhouette_score(X, lab, sample_size=min(5000, len(X)), random_state=seed)); sil[k] = round(s, 4)
        if s > best[1]: best = (k, s, lab)
    k, s, lab = best
    if lab is None: k, s, lab = 1, 0.0, np.zeros(len(X), dtype=int)
    return lab, {"seconds": round(time.perf_counter() - t0, 2), "k": k, "silhouette": round(s, 4), "silhouette_by_k": sil}


# ---------- drain3 ----------
def run_drain3(df: pl.DataFrame) -> dict:
    from drain3 import TemplateMiner
    from sklearn.metrics import adjusted_rand_score
    prompts = [system_text(json.loads(r)) for r in df["request"]]
    tm, ids = TemplateMiner(), []
    t0 = time.perf_counter()
    for p in tqdm(prompts, desc="drain3 prompts", leave=False):
        msg = " ".join(p.split("\n")).strip()
        ids.append(tm.add_log_message(msg)["cluster_id"] if msg else -1)
    secs = time.perf_counter() - t0
    out = {"prompts": {"n_messages": len(prompts), "n_no_system_prompt": sum(not p.strip() for p in prompts),
                       "n_distinct_prompts": len(set(prompts)), "templates_mined": len(tm.drain.clusters),
                       "templates_used_at_insert": len(set(ids) - {-1}), "seconds": round(secs, 2)}}
    if "task" in df.columns and df["task"].null_count() < len(df):
        truth = df["task"].fill_null("?").to_list()
        out["prompts"]["ari_vs_task"] = round(float(adjusted_rand_score(truth, ids)), 4)
        out["prompts"]["n_tasks"] = len(set(truth))
    lines = list(dict.fromkeys(l.strip() for p in prompts for l in p.split("\n") if l.strip()))
    tl = TemplateMiner(); t0 = time.perf_counter()
    for l in tqdm(lines, desc="drain3 lines", leave=False): tl.add_log_message(l)
    sizes = sorted((c.size for c in tl.drain.clusters), reverse=True)
    out["lines"] = {"n_distinct_lines": len(lines), "templates_mined": len(sizes), "templates_with_2plus_lines": sum(s > 1 for s in sizes),
                    "largest_template_sizes": sizes[:10], "seconds": round(time.perf_counter() - t0, 2)}
    return out


# ---------- report ----------
def markdown(name: str, r: dict) -> str:
    tasks = sorted(next(iter(r["methods"].values()))["task_held"]) if r["methods"] else []
    rows = [f"### {name}: {r['n_calls']} calls, {r['n_tasks']} true tasks; shared doc-text embedding {r['embedding_seconds']} s "
            f"({r['n_distinct_docs']} distinct docs, load {r['embedder_load_seconds']} s)", "",
            "| method | ARI | NMI | clusters | noise | min task held | seconds (excl. shared embedding) | notes |",
            "|---|---|---|---|---|---|---|---|"]
    for m, s in r["methods"].items():
        note = {"slm_agents": lambda: f"total {s['seconds_total']} s incl. own embedding {s['seconds_embedding']} s ({100 * s['embedding_share']:.0f}%)",
                "bertopic": lambda: (f"median-ARI run of {s['runs']} UMAP seeds; ARI {s['ari_min']}-{s['ari_max']}, clusters "
                                     f"{s['n_clusters_range'][0]}-{s['n_clusters_range'][1]}, min task held "
                                     f"{s['min_task_held_range'][0]:.1%}-{s['min_task_held_range'][1]:.1%}; seconds per run"),
                "kmeans (OpenTracy)": lambda: f"k={s['k']} of {list(s['silhouette_by_k'])} (silhouette by k {s['silhouette_by_k']})",
                }.get(m, lambda: f"k={s['k']} (silhouette {s['silhouette']})")()
        rows.append(f"| {m} | {s['ari']} | {s['nmi']} | {s['n_clusters']} | {s['noise_share']:.1%} | {s['min_task_held']:.1%} | {s['seconds']} | {note} |")
    rows += ["", "share of each true task's calls held by its largest cluster:", "",
             "| task (calls) | " + " | ".join(r["methods"]) + " |", "|---|" + "---|" * len(r["methods"])]
    for t in tasks:
        rows.append(f"| {t} ({r['task_counts'][t]}) | " + " | ".join(f"{s['task_held'][t]:.1%}" for s in r["methods"].values()) + " |")
    for m, e in r.get("errors", {}).items(): rows.append(f"\n{m} FAILED: {e}")
    if "drain3" in r:
        p, l = r["drain3"]["prompts"], r["drain3"]["lines"]
        rows += ["", f"drain3 (default TemplateMiner): {p['n_messages']} system prompts ({p['n_distinct_prompts']} distinct, "
                 f"{p['n_no_system_prompt']} empty) -> {p['templates_mined']} templates, ARI vs task {p.get('ari_vs_task')}; "
                 f"{l['n_distinct_lines']} distinct prompt lines -> {l['templates_mined']} templates "
                 f"({l['templates_with_2plus_lines']} covering 2+ lines; largest {l['largest_template_sizes'][:5]})"]
    return "\n".join(rows)


def compare(path, embedder, load_s: float, sample: int | None, drain3: bool, skip_s3: bool = False, bertopic_runs: int = 5) -> dict:
    seed_everything()
    df = load_log(path, sample)
    if "task" not in df.columns or df["task"].null_count() == len(df): raise SystemExit(f"{path}: no `task` column to score against")
    truth = df["task"].fill_null("?").to_list()
    reqs = [json.loads(r) for r in df["request"]]
    docs = [doc_text(r) for r in reqs]
    t0 = time.perf_counter(); X = embed_docs(embedder, docs); emb_s = time.perf_counter() - t0
    res = {"log": str(path), "n_calls": len(df), "n_tasks": len(set(truth)), "task_counts": dict(Counter(truth).most_common()),
           "n_distinct_docs": len(set(docs)), "embedding_seconds": round(emb_s, 2), "embedder_load_seconds": round(load_s, 2),
           "doc_chars_median": int(np.median([len(d) for d in docs])), "methods": {}}
    steps = ([] if skip_s3 else [("slm_agents", lambda: run_s3(df))]) + [
        ("bertopic", lambda: run_bertopic(docs, X, embedder, truth, bertopic_runs)),
        ("kmeans (OpenTracy)", lambda: kmeans_best_silhouette(X, opentracy_k_candidates(len(X)), desc="kmeans OpenTracy k")),
        ("kmeans (silhouette 2..20)", lambda: kmeans_best_silhouette(X, list(range(2, 21)), desc="kmeans k 2..20"))]
    for name, fn in tqdm(steps, desc=Path(path).name, leave=False):
        seed_everything()
        try: lab, extra = fn()
        except Exception as e:                       # e.g. slm_agents mid-edit: record it, keep the other methods
            log.exception("%s failed on %s", name, path); res.setdefault("errors", {})[name] = repr(e); continue
        res["methods"][name] = {**scores(lab, truth), **extra}
        log.info("%s %s: %s", path, name, {k: v for k, v in res["methods"][name].items() if k not in ("task_held", "topic_names")})
    if drain3: res["drain3"] = run_drain3(df)
    return res


def versions() -> dict:
    "Package versions, and the git blob of slm_agents/cluster.py as run (S3 is being changed while this benchmark exists)."
    import importlib.metadata as md, subprocess, slm_agents.cluster as c
    v = {}
    for p in ("slm_agents", "bertopic", "umap-learn", "hdbscan", "scikit-learn", "sentence-transformers", "torch", "drain3"):
        try: v[p] = md.version(p)
        except md.PackageNotFoundError: v[p] = None
    try: v["slm_agents/cluster.py blob"] = subprocess.run(["git", "hash-object", c.__file__], capture_output=True, text=True).stdout.strip()
    except OSError: pass
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="call logs (.jsonl/.json/.ndjson/.parquet or a folder), each with a `task` column")
    ap.add_argument("--sample", type=int, default=None, help="score a seeded sample of N calls per log")
    ap.add_argument("--out", default="benchmarks/out/cluster_compare.json")
    ap.add_argument("--drain3", action="store_true", help="also measure drain3 template mining on the system prompts")
    ap.add_argument("--bertopic-runs", type=int, default=5, help="BERTopic draws (UMAP seeds); the median-ARI one is reported")
    ap.add_argument("--skip-s3", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("bertopic", "sentence_transformers", "drain3", "numba", "httpx"): logging.getLogger(noisy).setLevel(logging.WARNING)
    seed_everything()
    from slm_agents.cluster import load_embedder
    t0 = time.perf_counter(); embedder = load_embedder(); load_s = time.perf_counter() - t0
    out = {"seed": SEED, "sample": a.sample, "bertopic_runs": a.bertopic_runs, "versions": versions(), "results": {}}
    for p in tqdm(a.logs, desc="logs"):
        r = compare(p, embedder, load_s, a.sample, a.drain3, a.skip_s3, a.bertopic_runs)
        out["results"][str(p)] = r
        print("\n" + markdown(Path(p).name, r) + "\n", flush=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
