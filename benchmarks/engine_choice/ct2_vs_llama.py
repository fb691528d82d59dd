"""How the CPU serving engine was chosen: CTranslate2 (int8, float32) and llama.cpp's high-level API against transformers.

    python benchmarks/engine_choice/ct2_vs_llama.py RUN_DIR CLUSTER FORMAT N int8,float32 [GGUF,...]

Needs `pip install ctranslate2==4.8.5` and llama-cpp-python. Writes converted models under /tmp/eng. The numbers quoted in
benchmarks/RESULTS.md (serving section, "Why llama.cpp, not CTranslate2") came from this probe.
"""
import json, sys, time
from pathlib import Path
import ctranslate2, torch
from slm_agents.finetune import load_adapter, specialist_prompts, ShotBank, _cluster_rows
from slm_agents.models import generate_scored, _stop_ids
from slm_agents.select import MAX_NEW, split_of
run, cid, fmt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
adir = Path(run) / "adapters" / cid
m, tok, info = load_adapter(adir, merge=True)
rows = [r for r in _cluster_rows(run)[int(cid)]][-n:]
reqs = [json.loads(r["request"]) for r in rows]
prompts = specialist_prompts(tok, reqs, info["prune_rule"], ShotBank.load(adir), info["config"].get("context_tokens"))
mx = MAX_NEW[fmt]
out = Path("/tmp/eng/merged" + cid)
if not (out / "config.json").exists(): m.save_pretrained(out); tok.save_pretrained(out)
res = {}
def ntok(outs): return sum(len(tok(o, add_special_tokens=False)["input_ids"]) + 1 for o in outs)
for bs in (1, 8):
    ps = prompts[:16] if bs == 1 else prompts
    t0 = time.perf_counter(); o = generate_scored(m, tok, ps, mx, bs); s = time.perf_counter() - t0
    res[f"hf_bs{bs}"] = {"tok_s": round(ntok([a for a, _ in o]) / s, 1), "s": round(s, 1)}; res[f"hf_out{bs}"] = o
    if bs == 1: res_hf1 = [a for a, _ in o]
stops = [tok.convert_ids_to_tokens(i) for i in _stop_ids(tok)]
for q in sys.argv[5].split(","):
    d = Path(f"/tmp/eng/ct2_{cid}_{q}")
    if not d.exists(): ctranslate2.converters.TransformersConverter(str(out)).convert(str(d), quantization=q)
    g = ctranslate2.Generator(str(d), device="cpu", compute_type=q, inter_threads=1, intra_threads=2)
    toks = [tok.convert_ids_to_tokens(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    for bs in (1, 8):
        ts = toks[:16] if bs == 1 else toks
        t0 = time.perf_counter(); outs = []
        for k in range(0, len(ts), bs):
            r = g.generate_batch(ts[k:k+bs], max_length=mx, sampling_topk=1, include_prompt_in_result=False, return_scores=True, end_token=stops)
            outs += [(tok.decode(x.sequences_ids[0], skip_special_tokens=True).strip(), x.scores[0]) for x in r]
        s = time.perf_counter() - t0
        hf = res[f"hf_out{bs}"] if bs == 8 else res["hf_out1"]
        agree = sum(a == b[0] for (a, _), b in zip(hf, outs)) / len(outs)
        res[f"ct2_{q}_bs{bs}"] = {"tok_s": round(ntok([a for a, _ in outs]) / s, 1), "s": round(s, 1), "agree": round(agree, 3),
                                  "conf": [(round(c1, 3), round(c2, 3)) for (_, c1), (_, c2) in list(zip(hf, outs))[:4]]}
for k in list(res):
    if k.startswith("hf_out"): del res[k]
print(json.dumps(res, indent=1))
if len(sys.argv) > 6:
    from llama_cpp import Llama
    for gpath in sys.argv[6].split(","):
        llm = Llama(gpath, n_ctx=4096, n_threads=2, n_batch=512, verbose=False, logits_all=False)
        t0 = time.perf_counter(); outs = []
        for p in prompts[:16]:
            r = llm.create_completion(p, max_tokens=mx, temperature=0.0, top_k=1, stop=["<|im_end|>"])
            outs.append(r["choices"][0]["text"].strip())
        s = time.perf_counter() - t0
        hf = res_hf1
        agree = sum(a == b for a, b in zip(hf, outs)) / len(outs)
        print(gpath, {"tok_s": round(ntok(outs) / s, 1), "s": round(s, 1), "agree": round(agree, 3)})
