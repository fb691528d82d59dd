"""How many logged calls a label needs before S4's label head serves a share of them:
`python benchmarks/label_volume.py LOG.parquet:TASK ... --caps 2 4 8 16 32 64`.

For each log's label site, the training calls are cut to at most `cap` calls of each logged label (seeded draw), the head is
fitted as S4 fits it (MiniLM vector, label names as extra examples, temperature on the cross-fitted answers), its threshold
calibrated as the router calibrates it (validation half plus the cross-fitted answers, 95 % of the LLM's quality, at least
5 served), and applied to the same test half at every cap (`label_head_eval.evaluate`). The curve says how much traffic an
agent must log at a label site before the head moves a given share of it. Writes `benchmarks/out/label_volume.json` and
`benchmarks/out/label_volume.png`."""
import argparse, json
from pathlib import Path
from label_head_eval import evaluate

def plot(results: list[dict], path: Path):
    "Served share and the served calls' accuracy against the median training calls a label, a line per log."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt, seaborn as sns
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    x = [r["train_per_label_median"] for r in results]
    logs = [r["log"] for r in results]
    for ax, key, name in zip(axes, ["served_test", "accuracy_served"], ["served at the threshold", "accuracy of served"]):
        sns.lineplot(x=x, y=[r[key] for r in results], hue=logs, marker="o", ax=ax)
        ax.set(xscale="log", xlabel="training calls a label (median)", ylabel=name, ylim=(0, 1))
    axes[0].axhline(0.9, ls=":", c="grey")
    axes[1].axhline(0.95, ls=":", c="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sites", nargs="+", help="LOG.parquet:TASK")
    ap.add_argument("--caps", nargs="+", type=int, default=[2, 4, 8, 16, 32, 64])
    ap.add_argument("--out", default="benchmarks/out/label_volume.json")
    a = ap.parse_args()
    results = []
    for s in a.sites:
        for cap in a.caps:
            r = evaluate(*s.rsplit(":", 1), 0, cap=cap)
            results.append(r)
            print(json.dumps(r), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1))
    plot(results, Path(a.out).with_suffix(".png"))
