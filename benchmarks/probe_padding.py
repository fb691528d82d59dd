"""Whether a probe's batches pad like the whole training set: `python benchmarks/probe_padding.py RUN CLUSTER`.

S5's probe times three LoRA steps on a cluster's examples. A step costs about what its batch pads to: the batch size
times its longest example. From the cluster's training examples as S5 builds them (`training_data`, the run's defaults),
this prints the exact expected padded tokens of a batch of 8 drawn from all of them and from a random 24 of them (the
examples three probe steps see), and the mean and cap of the example lengths."""
import json, math, random, sys
from slm_agents.finetune import TrainConfig, _cluster_rows, training_data
from slm_agents.select import read_selection, split_of

def padded_tokens(lengths: list[int], batch_size: int) -> float:
    "Expected tokens in a batch of `batch_size` examples drawn at random, padded to its longest: size × E[max]."
    L = sorted(lengths)
    n, k = len(L), min(batch_size, len(L))
    return k * sum(L[i] * math.comb(i, k - 1) for i in range(k - 1, n)) / math.comb(n, k)

run_dir, cid = sys.argv[1], int(sys.argv[2])
cfg = TrainConfig()
rows = [x for x in _cluster_rows(run_dir)[cid] if split_of(x) == "train"]
d = training_data(read_selection(run_dir)[cid]["model"], rows, cfg)
lengths = [len(e["input_ids"]) for e in d.examples]
probe = random.Random(0).sample(lengths, min(len(lengths), 3 * cfg.batch_size))
print(json.dumps({"examples": len(lengths), "mean_length": round(sum(lengths) / len(lengths), 1),
                  "max_length": cfg.max_length, "padded_batch_all": round(padded_tokens(lengths, cfg.batch_size)),
                  "padded_batch_probe_sample": round(padded_tokens(probe, cfg.batch_size))}))
