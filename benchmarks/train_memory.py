"""Peak memory of LoRA training steps or of an adapter's answers, in a fresh process: `python benchmarks/train_memory.py train8|train4|answer CLUSTER RUN_DIR`."""
import sys, json, resource, polars as pl
from pathlib import Path
from dataclasses import replace
mode, cid = sys.argv[1], int(sys.argv[2])
rd = Path(sys.argv[3])
from slm_agents.formats import specialist_prompts, ShotBank
from slm_agents.finetune import TrainConfig, training_data, train_lora, load_adapter
from slm_agents.models import generate_scored
from slm_agents.select import split_of
calls = pl.read_parquet(rd / "curated.parquet").join(pl.read_parquet(rd / "clusters.parquet").select("call_id", "cluster"), on="call_id").filter(pl.col("cluster") == cid).sort("call_id")
rows = calls.to_dicts()
base = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
if mode.startswith("train"):
    bs = int(mode[5:] or 8)
    cfg = TrainConfig(steps=4, warmup=0, batch_size=bs)
    d = training_data("smollm2-135m-instruct", [r for r in rows if split_of(r) == "train"][:200], cfg)
    before = base()
    train_lora("smollm2-135m-instruct", d.examples, cfg, d.tok)
    print(mode, cid, "peak MB", base(), "before training", before)
else:
    adir = rd / "adapters" / str(cid)
    m, tok, info = load_adapter(adir, merge=True)
    reqs = [json.loads(r["request"]) for r in rows if split_of(r) == "test"][:16]
    ps = specialist_prompts(tok, reqs, info["prune_rule"], ShotBank.load(adir), 2048)
    before = base()
    generate_scored(m, tok, ps, 160, 8)
    print(mode, cid, "peak MB", base(), "before answers", before)
