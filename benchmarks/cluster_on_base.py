"""One cluster of a finished run trained on a chosen base, then calibrated and evaluated as the run would:
`python benchmarks/cluster_on_base.py RUN CLUSTER --model M --steps N --out COPY`.

The run directory is copied to `COPY`; there, S4's choice for `CLUSTER` becomes `M`, the other decoder clusters stay on
the LLM (so only this one trains; label heads keep serving), and S5 trains `N` steps (the learning rate by the base's
size), then the router calibrates and evaluation replays the held-out calls. Prints the seconds of each stage, S5's
score, the router's calibration and the cluster's evaluated row; writes them to `COPY/cluster_on_base.json`."""
import argparse, json, shutil, time
from pathlib import Path
from slm_agents.evaluate import run_evaluate
from slm_agents.finetune import TrainConfig, run_finetune
from slm_agents.router import run_router
from slm_agents.select import HEAD

p = argparse.ArgumentParser()
p.add_argument("run_dir")
p.add_argument("cluster", type=int)
p.add_argument("--model", required=True)
p.add_argument("--steps", type=int, required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
rd = Path(a.out)
shutil.rmtree(rd, ignore_errors=True)
shutil.copytree(a.run_dir, rd)
sel = json.loads((rd / "selection.json").read_text())
for cid, e in sel.items():
    if int(cid) == a.cluster:
        e |= {"route": "slm", "model": a.model}
    elif e["route"] == "slm" and e["model"] != HEAD:
        e |= {"route": "llm", "reason": f"left on the LLM: only cluster {a.cluster} is trained here"}
(rd / "selection.json").write_text(json.dumps(sel, indent=1))
seconds = {}
t0 = time.perf_counter()
ft = run_finetune(rd, TrainConfig(steps=a.steps), clusters={a.cluster}, progress=True)[a.cluster]
seconds["finetune"] = round(time.perf_counter() - t0, 1)
t0 = time.perf_counter()
run_router(rd, progress=True)
seconds["router"] = round(time.perf_counter() - t0, 1)
t0 = time.perf_counter()
m = run_evaluate(rd, progress=True)
seconds["evaluate"] = round(time.perf_counter() - t0, 1)
entry = json.loads((rd / "router" / "router.json").read_text())["clusters"][str(a.cluster)]
out = {"model": a.model, "steps": a.steps, "seconds": seconds, "lr": ft["train"]["config"]["lr"],
       "train_seconds": ft["train"].get("seconds"), "finetune_score": ft["finetuned"],
       "calibration": entry["calibration"], "route": entry["route"], "reason": entry["reason"],
       "evaluated": m["clusters"][str(a.cluster)] if str(a.cluster) in m["clusters"] else m["clusters"][a.cluster]}
print(json.dumps(out, indent=1))
(rd / "cluster_on_base.json").write_text(json.dumps(out, indent=1))
