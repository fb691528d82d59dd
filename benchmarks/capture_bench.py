"""S1 capture benchmark: overhead the wrapper adds to each call, and the sustained encrypted write rate.

    python benchmarks/capture_bench.py [--calls 20000] [--records 200000]

Overhead is measured in-process against a `create` that returns a prebuilt ChatCompletion at once, so the numbers are the
wrapper's own cost, not network noise. Both arms run interleaved in one process; each call is timed with perf_counter_ns.
"""
import argparse, json, platform, statistics, tempfile, time
from pathlib import Path
import numpy as np, openai
from openai.types.chat import ChatCompletion
from slm_agents.capture import CallStore, generate_keys, wrap

SYSTEM = "You are the intent classifier of a bank's support assistant. Answer with exactly one label. " * 6
RESP = ChatCompletion.model_validate({"id": "c", "object": "chat.completion", "created": 0, "model": "gpt-x",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "card_arrival"}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123}})

def _client():
    c = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="unused")
    c.chat.completions.create = lambda **kw: RESP          # the 'LLM': returns immediately
    return c

def overhead(n: int, pace_s: float, batch: int) -> dict:
    admin, writer = generate_keys()
    with tempfile.TemporaryDirectory() as d, CallStore(Path(d) / "s", "writer", key=writer, batch_size=batch) as store:
        bare, wrapped = _client(), wrap(_client(), store, agent="bench", node="intent")
        t_bare, t_wrap = [], []
        for i in range(n):
            msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"where is my card {i}"}]
            for client, out in ((bare, t_bare), (wrapped, t_wrap)):
                t0 = time.perf_counter_ns(); client.chat.completions.create(model="gpt-x", messages=msgs); out.append(time.perf_counter_ns() - t0)
            if pace_s: time.sleep(pace_s)
        store.flush()
        assert store.written == n
    b, w = np.array(t_bare) / 1000, np.array(t_wrap) / 1000
    return {"calls": n, "pace_ms": pace_s * 1000, "bare_p50_us": round(float(np.percentile(b, 50)), 2),
            "wrapped_p50_us": round(float(np.percentile(w, 50)), 2), "wrapped_p99_us": round(float(np.percentile(w, 99)), 2),
            "overhead_p50_us": round(float(np.percentile(w, 50) - np.percentile(b, 50)), 2),
            "overhead_p99_us": round(float(np.percentile(w, 99) - np.percentile(b, 99)), 2)}

def write_rate(n: int, batch: int, max_pending: int | None) -> dict:
    admin, writer = generate_keys()
    with tempfile.TemporaryDirectory() as d:
        store = CallStore(Path(d) / "s", "writer", key=writer, batch_size=batch, max_pending=max_pending)
        req = {"model": "gpt-x", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "where is my card"}]}
        t0 = time.perf_counter()
        for i in range(n): store.record(time.time(), "bench", "intent", req, RESP, 0.2)
        store.close()
        secs = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (Path(d) / "s" / "segments").glob("*.parquet"))
        assert store.written == n
    return {"records": n, "batch_size": batch, "max_pending": max_pending or batch, "seconds": round(secs, 2),
            "records_per_s": round(n / secs), "bytes_per_record": round(size / n)}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000); ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--out", default="benchmarks/out/capture.json")
    a = ap.parse_args()
    res = {"machine": f"{platform.machine()} {platform.python_version()}",
           "overhead_back_to_back": overhead(a.calls, 0, 1000),
           "overhead_paced_1ms": overhead(min(a.calls, 3000), 0.001, 1000),
           "write_rate_default": write_rate(a.records, 1000, None),
           "write_rate_batch5000_pending20000": write_rate(a.records, 5000, 20000)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
