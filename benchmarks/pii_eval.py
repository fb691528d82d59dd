"""PII detection measured on presidio-research's synth_dataset_v2: the slm_agents configuration and Presidio's defaults,
side by side in one run, each on one CPU core. The slm_agents configuration runs once more with its digit gates removed, to
show what they save and that its predictions are the same without them. False positives are measured on PII-free text:
Banking77's test messages (customer questions written for the dataset, no names or numbers of real people; every span the
detector finds most often was read: card brands, countries, currencies, app names; none is a person or a number), SciTLDR's test abstracts (published research text) and the
descriptions of BFCL's tool schemas (public API docs); reported: the share of texts with any span, spans per 100 texts, by type.

    python benchmarks/pii_eval.py [--data-dir ../shared/datasets] [--out benchmarks/out/pii.json]
"""
import argparse, csv, json, os, time
from collections import Counter
from pathlib import Path
from threadpoolctl import threadpool_limits
from slm_agents.curate import detect_pii, evaluate_pii, pii_engine

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default=os.environ.get("SLM_AGENTS_DATA_DIR", "../shared/datasets"))
ap.add_argument("--out", default="benchmarks/out/pii.json")
ap.add_argument("--threshold", type=float, default=0.35)
a = ap.parse_args()
records = json.loads(Path(a.data_dir, "presidio_synth_pii", "synth_dataset_v2.json").read_text())
texts = [r["full_text"] for r in records]
res = {"records": len(records)}

def timed(config):
    t0 = time.perf_counter(); preds = detect_pii(texts, config, a.threshold); return preds, len(texts) / (time.perf_counter() - t0)

with threadpool_limits(1):
    for config in ("presidio_default", "slm_agents"):
        pii_engine(config); detect_pii(texts[:20], config)          # load and warm up outside the timing
        preds, rate = timed(config)
        res[config] = {"records_per_s_one_core": round(rate, 1), "partial": evaluate_pii(records, preds),
                       "strict_iou_0.5": {k: evaluate_pii(records, preds, strict=True)[k] for k in ("ALL", "ANY_PII")}}
    for r in pii_engine("slm_agents").registry.recognizers: r.__dict__.pop("analyze", None)     # the gates off
    ungated, rate = timed("slm_agents")
    res["slm_agents"]["records_per_s_one_core_without_gates"] = round(rate, 1)
    res["slm_agents"]["same_predictions_without_gates"] = ungated == preds

def descriptions(o):
    if isinstance(o, dict):
        for k, v in o.items(): yield from [v] if k == "description" and isinstance(v, str) else descriptions(v)
    elif isinstance(o, list):
        for v in o: yield from descriptions(v)

def pii_free() -> dict[str, list[str]]:
    from slm_agents.datasets import bfcl_calls
    d = Path(a.data_dir)
    bank = [r["text"] for r in csv.DictReader(open(d / "banking77" / "test.csv", encoding="utf-8"))]
    sci = [" ".join(json.loads(l)["source"]) for l in open(d / "scitldr" / "test.jsonl", encoding="utf-8")]
    docs = sorted({t for c in bfcl_calls() for t in descriptions(c.request.get("tools"))})
    return {"banking77_test": bank, "scitldr_test": sci, "bfcl_tool_descriptions": docs}

with threadpool_limits(1):
    for name, fp_texts in pii_free().items():
        for config in ("presidio_default", "slm_agents"):
            found = detect_pii(fp_texts, config, a.threshold)
            res[config].setdefault("false_positives", {})[name] = {
                "texts": len(fp_texts), "texts_flagged": round(sum(map(bool, found)) / len(fp_texts), 4),
                "spans_per_100_texts": round(100 * sum(map(len, found)) / len(fp_texts), 1),
                "by_type": dict(Counter(s.type for ss in found for s in ss).most_common())}
Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
print(f"{'group':18s} " + "  ".join(f"{c:>28s}" for c in ("presidio_default P/R/F2", "slm_agents P/R/F2")))
for g in res["slm_agents"]["partial"]:
    row = [res[c]["partial"].get(g, {"precision": 0, "recall": 0, "f2": 0}) for c in ("presidio_default", "slm_agents")]
    print(f"{g:18s} " + "  ".join(f"{r['precision']:8.3f} {r['recall']:8.3f} {r['f2']:8.3f}  " for r in row) + f" gold={row[1].get('gold', 0)}")
for c in ("presidio_default", "slm_agents"):
    print(c, "records/s (1 core):", res[c]["records_per_s_one_core"], " strict IoU>=0.5:", res[c]["strict_iou_0.5"])
print("slm_agents without gates:", res["slm_agents"]["records_per_s_one_core_without_gates"], "records/s; same predictions:",
      res["slm_agents"]["same_predictions_without_gates"])
for c in ("presidio_default", "slm_agents"):
    print(c, "false positives:", {k: (v["texts_flagged"], v["spans_per_100_texts"]) for k, v in res[c]["false_positives"].items()})
