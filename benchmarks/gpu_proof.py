"""The GPU proof: Unsloth against plain PEFT under the same TRL trainer, on a bare NVIDIA machine with no network.

Here (CPU, with PyPI):
    python benchmarks/gpu_proof.py prepare [--dir .gpu_proof] [--rows 600]
downloads the wheels such a machine lacks (Python 3.12, manylinux, pinned as in pyproject's `gpu` extra), takes the
SmolLM2-135M GGUF and the agent-mix intent calls, cuts every file into parts of at most 58 MiB and packs the parts into
batch folders `batch1`, `batch2`, … of at most 58 MiB each. `calls.txt` says what to run on the GPU machine:
one call per batch (each copies its parts to /tmp/gpu_proof), the last one also runs

    bash benchmarks/gpu_proof.sh /tmp/gpu_proof $OUT

which joins the parts (SHA-256 checked), installs the wheels, and runs `gpu_proof.py run` once per backend:
1. `import unsloth` (its version, the GPU, torch);
2. a specialist on a real agent-mix cluster (Banking77 intents) with both backends, same config and data: exact-label
   accuracy on held-out calls, seconds, peak GPU memory;
3. speed: a randomly initialised model of Llama-3.2-1B's shape (SmolLM2's vocabulary), built from a config there,
   trained with both backends on the same synthetic batches: tokens/s in steady state and peak memory. Speed and memory
   do not depend on trained weights, so random weights are a fair speed benchmark when no 1B weights can travel.
Results go to $OUT/gpu_proof_<backend>.json and $OUT/gpu_proof.json (the ratios).

Each backend runs in a process of its own (Unsloth patches transformers' model classes when it loads one), PEFT first;
`compare` writes the ratios. `run --smoke` runs the same code on a CPU with PEFT at toy sizes (the test does).
"""
import argparse, hashlib, json, math, os, shutil, subprocess, sys, time
from pathlib import Path

PART = 58 * 2**20                 # bytes: parts and batches leave room for the working tree in the 64 MiB a call carries
PY = "3.12"                       # the GPU machine's Python
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]
# What Unsloth needs beyond the GPU machine's image (torch, transformers, peft, accelerate, triton, … are there).
# xformers is optional for Unsloth (it falls back to PyTorch's attention) and too large to carry.
EXTRA = ["datasets==4.8.5", "dill==0.4.1", "multiprocess==0.70.19", "torchao==0.18.0", "cut_cross_entropy==25.1.1",
         "tyro==1.0.17", "docstring-parser==0.18.0", "typeguard==4.6.1", "shtab==1.13.0", "msgspec==0.23.0",
         "json5==0.17.3", "nest-asyncio==1.6.0", "structlog==26.1.0", "hf_transfer==0.1.9", "bitsandbytes==0.50.2",
         "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0", "typing-inspection==0.4.5",
         "polars==2.1.0", "polars-runtime-32==2.1.0", "gguf==0.19.0"]
ROOT = Path(__file__).resolve().parents[1]


def gpu_pins() -> list[str]:
    "pyproject's `gpu` extra and the TRL pin: the proof installs what a GPU user installs."
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    trl = [d.split("#")[0].strip() for d in project["dependencies"] if d.startswith("trl")]
    return [p for p in project["optional-dependencies"]["gpu"] if not p.startswith("transformers")] + trl


def wheel_list() -> list[str]:
    "Every wheel the GPU machine needs, pinned."
    return gpu_pins() + EXTRA


def download_command(dest) -> list[str]:
    "pip's command for the wheel list: binary only, no dependencies, for the GPU machine's Python and platform."
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", PY, "--implementation", "cp"]
    for p in PLATFORMS: cmd += ["--platform", p]
    return cmd + ["-d", str(dest)] + wheel_list()


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20): h.update(chunk)
    return h.hexdigest()


def split(path: Path, out: Path, size: int = PART) -> dict:
    "`path` cut into parts of at most `size` bytes in `out`: its manifest entry (name, SHA-256, part names)."
    parts, k = [], 0
    with open(path, "rb") as f:
        while chunk := f.read(size):
            name = f"{path.name}.part{k:02d}"
            (out / name).write_bytes(chunk)
            parts.append(name)
            k += 1
    return {"name": path.name, "sha256": sha256(path), "parts": parts}


def batches(sizes: dict, limit: int = PART) -> list[list[str]]:
    "Part names packed into batches of at most `limit` bytes (first fit, largest first)."
    out, room = [], []
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        if sizes[name] > limit: raise ValueError(f"{name} is {sizes[name]} bytes, over the {limit}-byte batch limit")
        i = next((i for i, r in enumerate(room) if r >= sizes[name]), None)
        if i is None: out.append([]); room.append(limit); i = len(out) - 1
        out[i].append(name); room[i] -= sizes[name]
    return out


def join(folder: Path, manifest: dict) -> list[Path]:
    "The files of `manifest`, joined from their parts in `folder` and checked against their SHA-256."
    done = []
    for e in manifest["files"]:
        dest = folder / e["name"]
        with open(dest, "wb") as f:
            for p in e["parts"]: f.write((folder / p).read_bytes())
        if sha256(dest) != e["sha256"]: raise ValueError(f"{e['name']}: SHA-256 does not match the manifest")
        done.append(dest)
    return done


def intent_rows(n: int) -> list[dict]:
    "The agent-mix intent call site's calls (request, response), as a run's curated table holds them."
    from slm_agents.datasets import agent_mix
    return agent_mix(per_source=n, sources=("banking77",)).select("call_id", "request", "response").to_dicts()


def prepare(dest: Path, rows: int, dry: bool = False) -> dict:
    "Wheels, base model and data in batch folders under `dest`; the plan of device calls in `calls.txt`."
    cmd = download_command(dest / "files")
    if dry: return {"download": cmd, "wheels": wheel_list()}
    from slm_agents.models import REGISTRY, _gguf
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "files").mkdir(parents=True)
    subprocess.run(cmd, check=True)
    folder, fname = _gguf(REGISTRY["smollm2-135m-instruct"])
    shutil.copy(folder / fname, dest / "files" / fname)
    with open(dest / "files" / "intent.jsonl", "w") as f:
        for r in intent_rows(rows): f.write(json.dumps(r) + "\n")
    parts_dir = dest / "parts"; parts_dir.mkdir()
    files = [split(p, parts_dir) for p in sorted((dest / "files").iterdir())]
    sizes = {p.name: p.stat().st_size for p in parts_dir.iterdir()}
    plan = batches(sizes)
    for i, names in enumerate(plan, 1):
        b = dest / f"batch{i}"; b.mkdir()
        for n in names: shutil.move(parts_dir / n, b / n)
    manifest = {"files": files, "gguf": fname, "wheels": wheel_list()}
    (dest / f"batch{len(plan)}" / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(parts_dir); shutil.rmtree(dest / "files")
    calls = [f"carry [{dest.name}/batch{i}]: mkdir -p /tmp/gpu_proof && cp {dest.name}/batch{i}/* /tmp/gpu_proof/"
             for i in range(1, len(plan) + 1)]
    calls[-1] += " && bash benchmarks/gpu_proof.sh /tmp/gpu_proof $OUT"
    (dest / "calls.txt").write_text("\n".join(calls) + "\n")
    return {"batches": len(plan), "bytes": sum(sizes.values()), "calls": calls}


# --- on the GPU machine -------------------------------------------------------------------------------------------

def _peak_reset():
    import torch
    if torch.cuda.is_available(): torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()


def _peak_gb() -> float | None:
    import torch
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def base_spec(folder: Path, smoke: bool):
    "The SmolLM2-135M base: the registry's on a CPU smoke run, else converted here from the carried GGUF."
    from slm_agents.models import ModelSpec
    if smoke: return "smollm2-135m-instruct"
    out = folder / "smollm2-135m"
    if not (out / "config.json").exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        fname = json.loads((folder / "manifest.json").read_text())["gguf"]
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
        m = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
        m.hf_quantizer = None
        if hasattr(m.config, "quantization_config"): del m.config.quantization_config
        m.save_pretrained(out); tok.save_pretrained(out)
    return ModelSpec.from_path(str(out), "smollm2-135m")


def specialist(base, rows: list[dict], backend: str, steps: int, n_test: int) -> dict:
    "One intent specialist on `backend`: accuracy on held-out calls, seconds, peak memory."
    from slm_agents.finetune import TrainConfig, answer, train_lora, training_data
    from slm_agents.formats import target_text
    train, test = rows[:-n_test], rows[-n_test:]
    cfg = TrainConfig(steps=steps, batch_size=8, shots=0, backend=backend)
    d = training_data(base, train, cfg)
    _peak_reset()
    model, losses, used, secs = train_lora(base, d.examples, cfg, d.tok)
    peak = _peak_gb()
    outs = answer(model, d.tok, [json.loads(r["request"]) for r in test], "label", d.rule)
    gold = [target_text(json.loads(r["response"])) for r in test]
    tokens = steps * cfg.batch_size * sum(len(e["input_ids"]) for e in d.examples) / len(d.examples)
    return {"backend": used, "steps": steps, "seconds": round(secs, 1), "tokens_per_s": round(tokens / secs),
            "peak_gb": peak, "final_loss": losses[-1], "accuracy": round(sum(o == g for o, g in zip(outs, gold)) / len(gold), 3),
            "n_test": len(gold)}


def random_model(folder: Path, tok_dir, layers: int, hidden: int, inter: int) -> Path:
    "A randomly initialised Llama of the given shape, saved in bf16 with SmolLM2's tokenizer."
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    out = folder / f"random-llama-{layers}x{hidden}"
    if (out / "config.json").exists(): return out
    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 256),
                      max_position_embeddings=4096, tie_word_embeddings=True, rope_theta=500000.0,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def speed(path: Path, backend: str, steps: int, seq: int, batch: int) -> dict:
    "Steady-state tokens/s (the seconds of `steps` steps minus those of a quarter as many) and peak memory."
    import random
    from slm_agents.finetune import TrainConfig, train_lora
    from slm_agents.models import ModelSpec, load_tokenizer
    tok = load_tokenizer(path)
    rng = random.Random(0)
    ex = [{"input_ids": ids, "labels": [-100] * (seq - 128) + ids[-128:]}
          for ids in ([rng.randrange(100, len(tok)) for _ in range(seq)] for _ in range(batch * 4))]
    spec, warm = ModelSpec.from_path(str(path)), max(2, steps // 4)
    cfg = TrainConfig(steps=warm, batch_size=batch, max_length=seq, backend=backend)
    _, _, _, s0 = train_lora(spec, ex, cfg, tok)
    _peak_reset()
    _, _, used, s1 = train_lora(spec, ex, TrainConfig(steps=steps, batch_size=batch, max_length=seq, backend=backend), tok)
    dt = s1 - s0                      # too short a run to tell (toy sizes): None
    return {"backend": used, "tokens_per_s": round((steps - warm) * batch * seq / dt) if dt > 0 else None,
            "peak_gb": _peak_gb(), "seconds": round(s1, 1)}


def run(folder: Path, out: Path, backend: str, smoke: bool = False) -> dict:
    "One backend's specialist and speed numbers, in a process of its own (Unsloth patches transformers' classes on load)."
    import torch
    rec = {"backend": backend, "torch": torch.__version__, "cuda": torch.cuda.is_available(),
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    if backend == "unsloth":
        import unsloth
        rec["unsloth"] = unsloth.__version__
    rows = intent_rows(60) if smoke else [json.loads(l) for l in open(folder / "intent.jsonl")]
    base = base_spec(folder, smoke)
    steps, n_test = (2, 4) if smoke else (60, 100)
    rec["specialist"] = specialist(base, rows, backend, steps, n_test)
    from slm_agents.models import materialise
    shape = (2, 64, 128) if smoke else (16, 2048, 8192)          # Llama-3.2-1B: 16 layers, 2,048 wide, 8,192 MLP
    path = random_model(folder, materialise(base), *shape)
    rec["speed_model"] = {"weights": "random (built from a config here)", "layers": shape[0], "hidden": shape[1],
                          "intermediate": shape[2]}
    s_steps, seq, batch = (4, 64, 2) if smoke else (40, 1024, 8)
    rec["speed"] = speed(path, backend, s_steps, seq, batch)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"gpu_proof_{backend}.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))
    return rec


def compare(out: Path) -> dict:
    "Unsloth against PEFT from the two backends' files: the ratios Unsloth claims, and the specialist's accuracy."
    u, p = (json.loads((out / f"gpu_proof_{b}.json").read_text()) for b in ("unsloth", "peft"))
    ratio = lambda a, b: round(a / b, 2) if a and b else None
    rec = {"unsloth": u, "peft": p, "unsloth_vs_peft": {
        "tokens_per_s": ratio(u["speed"]["tokens_per_s"], p["speed"]["tokens_per_s"]),
        "peak_memory": ratio(u["speed"]["peak_gb"], p["speed"]["peak_gb"]),
        "specialist_tokens_per_s": ratio(u["specialist"]["tokens_per_s"], p["specialist"]["tokens_per_s"]),
        "specialist_accuracy": [u["specialist"]["accuracy"], p["specialist"]["accuracy"]]}}
    (out / "gpu_proof.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec["unsloth_vs_peft"], indent=1))
    return rec


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare"); p.add_argument("--dir", default=".gpu_proof"); p.add_argument("--rows", type=int, default=600)
    p.add_argument("--dry-run", action="store_true", help="print the wheel list and pip's command only")
    r = sub.add_parser("run"); r.add_argument("--dir", default="/tmp/gpu_proof"); r.add_argument("--out", default=os.environ.get("OUT", "gpu_proof_out"))
    r.add_argument("--backend", choices=("unsloth", "peft"), default="peft")
    r.add_argument("--smoke", action="store_true", help="toy sizes (a CPU check of this code)")
    c = sub.add_parser("compare"); c.add_argument("--out", default=os.environ.get("OUT", "gpu_proof_out"))
    j = sub.add_parser("join"); j.add_argument("--dir", default="/tmp/gpu_proof")
    a = ap.parse_args()
    if a.cmd == "prepare": print(json.dumps(prepare(Path(a.dir), a.rows, a.dry_run), indent=1))
    elif a.cmd == "join":
        folder = Path(a.dir)
        print("\n".join(str(p) for p in join(folder, json.loads((folder / "manifest.json").read_text()))))
    elif a.cmd == "compare": compare(Path(a.out))
    else: run(Path(a.dir), Path(a.out), a.backend, a.smoke)
