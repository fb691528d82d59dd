"""S5 learning curve: held-out quality of LoRA adapters trained on more and more of one cluster's logged calls.

    python benchmarks/learning_curve.py --run-dir runs/demo --cluster 0 --sizes 50 200 800 --steps 60 --shots 2 --n-eval 100

Needs a run directory through the select stage (`make demo`). Each size gets the same optimizer steps and batch; the scores are
the cluster's S4 metric on the same held-out calls. Writes benchmarks/out/learning_curve.json and the plot into the run.
"""
import argparse, json
from pathlib import Path
from slm_agents.finetune import TrainConfig, learning_curve

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True); ap.add_argument("--cluster", type=int, default=0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800]); ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8); ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--shots", type=int, default=0, help="retrieved examples per request (from the first n calls only)"); ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/out/learning_curve.json")
    a = ap.parse_args()
    df = learning_curve(a.run_dir, a.cluster, a.sizes, TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, shots=a.shots, max_length=256), a.n_eval, progress=True)
    print(df)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"run_dir": a.run_dir, "cluster": a.cluster, "rows": df.to_dicts()}, indent=1))
