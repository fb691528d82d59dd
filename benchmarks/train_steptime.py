"""Seconds per LoRA optimizer step of this checkout's `train_lora` (20 steps of 8 agent-mix intent calls, 3 retrieved
examples each, model loading excluded). Run it from two checkouts one after the other to compare training engines:

    PYTHONPATH=CHECKOUT python benchmarks/train_steptime.py LABEL
"""
import inspect, json, sys
import polars as pl
from slm_agents.datasets import agent_mix
from slm_agents.finetune import TrainConfig, train_lora, training_data

rows = agent_mix(None, sample=3000, seed=3).filter(pl.col("node") == "intent_classifier").head(400).to_dicts()
cfg = TrainConfig(steps=20, batch_size=8, shots=3)
d = training_data("smollm2-135m-instruct", rows, cfg)
# the hand-written loop before the TRL trainer took the pad id where the trainer takes the tokenizer
arg = d.tok if "tok" in inspect.signature(train_lora).parameters else d.tok.pad_token_id
_, losses, _, secs = train_lora("smollm2-135m-instruct", d.examples, cfg, arg)
print(json.dumps({"code": sys.argv[1] if len(sys.argv) > 1 else "this checkout", "seconds_per_step": round(secs / 20, 3),
                  "first3": losses[:3], "last3": losses[-3:]}))
