"""Load and crash test of `slm-agents serve` on loopback.

N concurrent clients (the official `openai` client, base URL changed, no retries) send held-out calls of a run to the gateway,
which routes them to the run's specialists or to an upstream loopback LLM that answers as the logged LLM did. Reports
throughput, latency p50/p99 per route, and that every answered call was captured. Then the crash phase: the gateway is killed
with SIGKILL in the middle of the load, restarted on the same store, and the store is read back: calls lost must be at most one
capture batch.

    python benchmarks/gateway_load.py --run-dir runs/demo --clients 8 --requests 200

Faults under load (a flapping upstream, SIGKILL and restart, a full capture disk), without a run directory:
benchmarks/gateway_faults.py.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import httpx, numpy as np, openai, polars as pl
from slm_agents.capture import CallStore, LoopbackLLM, generate_keys
from slm_agents.evaluate import test_calls

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(run_dir, port, store, key_file, upstream, capture_batch):
    env = os.environ | {"SLM_AGENTS_API_KEYS": "bench-key", "OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "loopback-key"}
    p = subprocess.Popen([str(Path(sys.executable).parent / "slm-agents"), "serve", str(run_dir), "--port", str(port), "--store", str(store),
                          "--store-key-file", str(key_file), "--capture-batch", str(capture_batch)], env=env)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200: return p
        except httpx.HTTPError: pass
        if p.poll() is not None: raise RuntimeError("gateway exited at start")
        time.sleep(0.2)
    raise RuntimeError("gateway did not start")

def load(port, requests, clients, stop_after=None):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-key", max_retries=0, timeout=30)
    acked, lock, out = [0], threading.Lock(), []
    def one(req):
        t0 = time.perf_counter()
        try:
            r = client.chat.completions.with_raw_response.create(**req); r.parse()
            with lock: acked[0] += 1
            return {"ok": True, "user": req["user"], "route": r.headers["x-slm-route"], "ms": (time.perf_counter() - t0) * 1000}
        except openai.APIStatusError as e: return {"ok": False, "answered": True, "user": req["user"], "error": e.status_code, "ms": (time.perf_counter() - t0) * 1000}
        except Exception as e: return {"ok": False, "answered": False, "user": req["user"], "error": type(e).__name__, "ms": (time.perf_counter() - t0) * 1000}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex: out = list(ex.map(one, requests))
    return out, time.perf_counter() - t0, acked[0]

def captured_users(store, priv) -> list[str]:
    df = CallStore(store, "admin", priv).read_raw()
    return [json.loads(r).get("user") for r in df["request"]]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True); ap.add_argument("--clients", type=int, default=8); ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--capture-batch", type=int, default=20); ap.add_argument("--out", default="benchmarks/out/gateway.json")
    a = ap.parse_args()
    rd = Path(a.run_dir); tmp = Path(tempfile.mkdtemp())
    rows = test_calls(rd, 10_000).sample(fraction=1.0, shuffle=True, seed=0).to_dicts()
    reqs = [{k: v for k, v in json.loads(r["request"]).items() if k not in ("stream",)} | {"model": "agent-llm"} for r in rows]
    reqs = [q | {"user": f"bench-{i}"} for i, q in enumerate((reqs * (a.requests // max(1, len(reqs)) + 1))[:a.requests])]   # `user` marks each call
    gold = {json.dumps(json.loads(r["request"])["messages"], sort_keys=True): json.loads(r["response"])["choices"][0]["message"] for r in rows}
    teacher = lambda req: gold.get(json.dumps(req["messages"], sort_keys=True), {"role": "assistant", "content": "?"})
    priv, pub = generate_keys(); (tmp / "store.pub").write_text(pub); store = tmp / "store"
    res = {"run_dir": str(rd), "clients": a.clients, "requests": a.requests, "capture_batch": a.capture_batch}
    with LoopbackLLM(teacher) as llm:
        port = free_port(); p = start(rd, port, store, tmp / "store.pub", llm.base_url, a.capture_batch)
        load(port, [q | {"user": "warm"} for q in reqs[:a.clients]], a.clients)      # warm-up: loads the specialists
        p.send_signal(signal.SIGTERM); p.wait(60)
        p = start(rd, port, store, tmp / "store.pub", llm.base_url, a.capture_batch)
        out, secs, acked = load(port, reqs, a.clients)
        p.send_signal(signal.SIGTERM); p.wait(60)
        got = set(captured_users(store, priv)); answered = {o["user"] for o in out if o["ok"] or o.get("answered")}
        ms = {r: [o["ms"] for o in out if o["ok"] and o["route"] == r] for r in ("slm", "llm")}
        res["load"] = {"seconds": round(secs, 2), "throughput_rps": round(acked / secs, 2), "answered_ok": acked,
                       "answered_with_error": sum(bool(o.get("answered")) for o in out), "no_answer": sum(not o["ok"] and not o.get("answered") for o in out),
                       "captured": len(answered & got), "nothing_lost": answered <= got,
                       "routes": {r: len(v) for r, v in ms.items()},
                       "latency_ms": {r: {"n": len(v), "p50": round(float(np.percentile(v, 50)), 1), "p99": round(float(np.percentile(v, 99)), 1)}
                                      for r, v in ms.items() if v}}
        print(json.dumps(res["load"], indent=1))
        # crash: SIGKILL mid-load, restart on the same store
        crash = [q | {"user": "crash-" + q["user"]} for q in reqs]
        p = start(rd, port, store, tmp / "store.pub", llm.base_url, a.capture_batch)
        box = {}
        th = threading.Thread(target=lambda: box.update(r=load(port, crash, a.clients))); th.start()
        t_kill = time.time() + 0.5 * res["load"]["seconds"]                   # about half-way through the same load
        while time.time() < t_kill and th.is_alive(): time.sleep(0.05)
        p.send_signal(signal.SIGKILL); p.wait(); th.join()
        out, _, acked = box["r"]
        p = start(rd, port, store, tmp / "store.pub", llm.base_url, a.capture_batch)
        got = set(captured_users(store, priv)); answered = {o["user"] for o in out if o["ok"]}
        p.send_signal(signal.SIGTERM); p.wait(60)
        res["crash"] = {"answered_before_kill": len(answered), "of_which_captured": len(answered & got), "lost": len(answered - got),
                        "loss_within_one_batch": len(answered - got) <= a.capture_batch, "store_readable_after_restart": True}
        print(json.dumps(res["crash"], indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))

if __name__ == "__main__":
    main()
