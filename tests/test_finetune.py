import json
import polars as pl
import pytest
from slm_agents.datasets import agent_mix
from slm_agents.formats import ShotBank, prune_request, pruning_rule, specialist_prompts
from slm_agents.finetune import TrainConfig, answer, fit_adapter, load_adapter, make_example, quality
from slm_agents.models import load

@pytest.fixture(scope="module")
def intents(data_dir):
    return agent_mix(None, data_dir, sample=3000, seed=3).filter(pl.col("node") == "intent_classifier").to_dicts()

def test_pruning_removes_only_the_static_parts(intents):
    reqs = [json.loads(r["request"]) for r in intents[:50]]
    rule = pruning_rule(reqs)
    assert len(rule["system"]) == 1 and rule["tools"] is None
    pruned = prune_request(reqs[0], rule)
    assert [m["role"] for m in pruned["messages"]] == ["user"]
    other = {"messages": [{"role": "system", "content": "another node"}, {"role": "user", "content": "hi"}]}
    assert prune_request(other, rule) == other

def test_loss_is_on_the_answer_only_and_prompt_is_cut_first():
    _, tok = load("smollm2-135m-instruct")
    req = {"messages": [{"role": "user", "content": "word " * 300}]}
    ex = make_example(tok, req["messages"], "card_arrival", 64)
    assert 48 <= len(ex["input_ids"]) <= 64                        # the prompt's head was cut to fit, the answer kept
    kept = [t for t, l in zip(ex["input_ids"], ex["labels"]) if l != -100]
    assert tok.decode(kept) == "card_arrival" + tok.eos_token

def test_adapter_trains_saves_and_reloads(tmp_path, intents):
    cfg = TrainConfig(steps=12, batch_size=8, max_length=96, lr=1e-3, shots=0, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))
    info = fit_adapter("smollm2-135m-instruct", intents[:64], tmp_path / "a", cfg)
    import importlib.util, torch
    gpu = torch.cuda.is_available() and importlib.util.find_spec("unsloth") is not None
    assert info["backend"] == ("unsloth" if gpu else "peft")                         # Unsloth on a CUDA machine with it
    losses = json.loads((tmp_path / "a" / "train_log.json").read_text())["loss"]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3        # it learns
    assert info["prune_rule"]["system"] and info["tokens_per_example"] < 60          # the 77-label prompt is gone
    assert {"adapter_config.json", "adapter_model.safetensors", "train_config.json", "loss.png"} <= {p.name for p in (tmp_path / "a").iterdir()}
    qs = [json.loads(r["request"]) for r in intents[100:104]]
    m1, t1, _ = load_adapter(tmp_path / "a")             # a merged copy answers the same: 06a_export's tour checks it
    q = quality(answer(m1, t1, qs, "label", info["prune_rule"]), intents[100:104], "label")
    assert q["n"] == 4 and 0 <= q["score"] <= 1

def test_retrieved_examples_are_saved_and_shown_nearest_first(tmp_path, intents):
    rows = intents[:40]
    info = fit_adapter("smollm2-135m-instruct", rows, tmp_path / "s", TrainConfig(steps=2, batch_size=4, max_length=192, shots=2))
    bank = ShotBank.load(tmp_path / "s")
    assert bank is not None and len(bank.users) == 40 and info["config"]["shots"] == bank.k == 2
    reqs = [json.loads(r["request"]) for r in rows]
    own = bank.nearest(reqs[:5], 1)                                   # a training call's nearest call is itself ...
    assert [s[0][1] for s in own] == [json.loads(r["response"])["choices"][0]["message"]["content"] for r in rows[:5]]
    other = bank.nearest(reqs[:5], 1, exclude=range(5))               # ... unless it is excluded, as in training
    assert all(o[0][0] != bank.users[i] for i, o in enumerate(other))
    q = json.loads(intents[100]["request"]); (u1, a1), (u2, a2) = bank.nearest([q], 2)[0]
    _, tok = load("smollm2-135m-instruct")
    prompt = specialist_prompts(tok, [q], info["prune_rule"], bank)[0]
    assert prompt.index(u1) < prompt.index(u2) < prompt.rindex(q["messages"][-1]["content"]) and a1 in prompt
    assert "intent classifier" not in prompt and len(tok(prompt)["input_ids"]) < 160   # the label list stays pruned
    assert ShotBank.load(tmp_path) is None                                                  # no bank: no examples

def test_compact_tools_keep_every_name_in_fewer_tokens(data_dir):
    rows = agent_mix(None, data_dir, sample=3000, seed=3).filter(pl.col("task") == "tool_call").to_dicts()[:40]
    reqs = [json.loads(r["request"]) for r in rows]
    _, tok = load("smollm2-135m-instruct")
    full, compact = (specialist_prompts(tok, reqs, pruning_rule(reqs, c)) for c in (False, True))
    for q, p in zip(reqs, compact):
        for t in q["tools"]:
            f = t["function"]
            assert f["name"] + "(" in p and all(f"{k}: " in p for k in f["parameters"].get("properties", {}))
            assert all(json.dumps(v, ensure_ascii=False) in p for k, s in f["parameters"].get("properties", {}).items() for v in s.get("enum", [])[:3])
    n = lambda ps: sum(len(tok(p)["input_ids"]) for p in ps)
    assert n(compact) < 0.9 * n(full)

def test_gradient_accumulation_logs_one_loss_per_optimizer_step(intents):
    from slm_agents.finetune import sft_config, train_lora, training_data
    cfg = TrainConfig(steps=2, batch_size=4, grad_accum=2, max_length=96, shots=0, group_by_length=True)
    args = sft_config(cfg, "/tmp/unused")
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (2, 2)
    d = training_data("smollm2-135m-instruct", intents[:16], cfg)
    _, losses, _, _ = train_lora("smollm2-135m-instruct", d.examples, cfg, d.tok)
    assert len(losses) == 2
