"""Fault-and-load test of the gateway.

N concurrent clients send calls to a gateway process (`run_app`: the same uvicorn settings as `slm-agents serve`, an
encrypted `CallStore`) whose router is a stand-in without models: a quarter of the calls go to an instant specialist, the
rest to a local fake upstream LLM. Three faults, each on a fresh gateway and store:

1. flaps: the upstream answers 5xx, then too slowly (past the gateway's 2 s upstream timeout), then 401, then 429 with
   `Retry-After`, each for `--phase` seconds and each followed by `--phase` healthy seconds;
2. kill: the gateway is killed with SIGKILL mid-load and restarted on the same store;
3. disk: the store's disk is full (a 2 MiB tmpfs; needs root and `mount`) for `--phase` seconds, then grown.

For each it reports requests sent, answered with 2xx, errors by status, records captured (read back with the admin key),
records lost (answered but not in the store) against the loss the gateway counted and the bound it states, and the time to
recover after the fault ends. Capture must add no wait to any request, so latency under a full disk is reported too.

    python benchmarks/gateway_faults.py --clients 16 --phase 4
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, threading, time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import httpx, numpy as np

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class StandIn:
    "A router without models: a call whose last message is 'label me' goes to an instant specialist, the rest to the LLM."
    def __init__(self, llm):
        self.llm = llm
        self.config = {"clusters": {"0": {"route": "slm", "format": "label", "model": "stand-in", "adapter": "x"}}}

    def decide(self, req):
        from slm_agents.router import Decision
        slm = req["messages"][-1].get("content") == "label me"
        return Decision(0 if slm else -1, 1.0, "slm" if slm else "llm", "specialist" if slm else "cluster -1: noise")

    def answer(self, cid, reqs, batch_size=8): return [("a", 1.0)] * len(reqs)

    def accept(self, d, req, text, conf): return d

    def completion(self, cid, text):
        from slm_agents.router import as_completion
        return as_completion(text, "label", "slm:stand-in/cluster-0")


def serve(a):
    "The gateway process: the stand-in router, the fake upstream at `a.upstream`, a writer store."
    from slm_agents.capture import CallStore
    from slm_agents.gateway import CircuitBreaker, create_app, parse_keys, run_app
    from slm_agents.router import LLMClient
    store = CallStore(a.store, "writer", key_file=a.key_file, batch_size=a.capture_batch)
    llm = LLMClient(a.upstream, "upstream-key", timeout=2.0, max_retries=0)
    breaker = CircuitBreaker(failures=5, reset_s=a.breaker_reset)
    app = create_app(StandIn(llm), parse_keys(f"{KEY}:call+admin"), store, breaker=breaker, capture_backlog=a.backlog)
    run_app(app, port=a.port)


MODE = {"now": "ok"}

class Upstream(BaseHTTPRequestHandler):
    "A fake OpenAI-compatible upstream whose behaviour is `MODE['now']`: ok, 5xx, slow, 401 or 429."
    def log_message(self, *a): pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        mode = MODE["now"]
        if mode == "slow":
            time.sleep(3.0)
        status = {"5xx": 500, "401": 401, "429": 429}.get(mode, 200)
        if status == 200:
            body = {"id": "chatcmpl-up", "object": "chat.completion", "created": int(time.time()), "model": "up",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
        else:
            body = {"error": {"message": f"fake upstream: {mode}", "type": "x"}}
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())
        except OSError:
            pass                                   # the gateway gave up on a slow answer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(port, store, key_file, upstream, a):
    "A gateway process on `port`, once /healthz answers; and the seconds that took."
    t0 = time.time()
    cmd = [sys.executable, __file__, "serve", "--port", str(port), "--store", str(store), "--key-file", str(key_file),
           "--upstream", upstream, "--capture-batch", str(a.capture_batch), "--breaker-reset", str(a.breaker_reset), "--backlog", str(a.backlog)]
    with open(Path(store).parent / f"gateway-{port}.log", "a") as log:          # its warnings, one per failed call
        p = subprocess.Popen(cmd, env=os.environ | {"OMP_NUM_THREADS": "1"}, stdout=log, stderr=log)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return p, time.time() - t0
        except httpx.HTTPError:
            pass
        if p.poll() is not None:
            raise RuntimeError("gateway exited at start")
        time.sleep(0.1)
    raise RuntimeError("gateway did not start")


class Load:
    "`clients` threads sending calls until stopped; each logged as (sent, done, user, specialist?, status, Retry-After)."
    def __init__(self, port, clients, pad=0, think=0.02):
        self.url, self.stop, self.log, self.pad, self.think = f"http://127.0.0.1:{port}/v1/chat/completions", threading.Event(), [], pad, think
        self.threads = [threading.Thread(target=self.client, args=(k,), daemon=True) for k in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, k):
        with httpx.Client(timeout=15) as c:
            i = 0
            while not self.stop.is_set():
                i += 1
                slm = i % 4 == 0
                text = "label me" if slm else "hello " + "x" * self.pad
                body = {"model": "m", "user": f"c{k}-{i}", "messages": [{"role": "user", "content": text}]}
                t0 = time.time()
                try:
                    r = c.post(self.url, json=body, headers=AUTH)
                    status, retry = r.status_code, r.headers.get("retry-after")
                except httpx.HTTPError as e:
                    status, retry = type(e).__name__, None
                self.log.append((t0, time.time(), body["user"], slm, status, retry))
                time.sleep(self.think if isinstance(status, int) else 0.1)

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self.log


def captured(store, priv) -> set:
    from slm_agents.capture import CallStore
    return {json.loads(r).get("user") for r in CallStore(store, "admin", priv).read_raw()["request"]}


def counted_lost(port):
    "What the gateway says capture lost (`slm_gateway_capture_dropped`)."
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=AUTH).text
    return int(float(next(l.split()[-1] for l in text.splitlines() if l.startswith("slm_gateway_capture_dropped "))))


def row(name, calls, got, lost_counted, bound, recover, extra=None):
    "One table row from the calls of a scenario."
    answered = [c for c in calls if isinstance(c[4], int)]
    ok = [c for c in answered if 200 <= c[4] < 300]
    errors = Counter(str(c[4]) for c in calls if c not in ok)
    ms = [(c[1] - c[0]) * 1000 for c in ok]
    users = {c[2] for c in answered}
    return {"scenario": name, "sent": len(calls), "ok": len(ok), "errors": dict(sorted(errors.items())),
            "captured": len(users & got), "lost": len(users - got), "lost_counted": lost_counted, "bound": bound,
            "recover_s": recover, "p50_ms": round(float(np.percentile(ms, 50)), 1) if ms else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 1) if ms else None} | (extra or {})


def recovery(calls, t_end, t_next):
    "Seconds from `t_end` to the first LLM-routed call after which every LLM-routed call done by `t_next` got a 2xx."
    llm = sorted((c for c in calls if not c[3] and c[0] >= t_end and c[1] < t_next), key=lambda c: c[0])
    bad = [i for i, c in enumerate(llm) if c[4] != 200]
    first = 0 if not bad else bad[-1] + 1
    return None if first >= len(llm) else round(max(0.0, llm[first][0] - t_end), 2)


def flaps(a, env):
    port = free_port()
    p, _ = start(port, env["tmp"] / "flaps", env["pub"], env["upstream"], a)
    load, marks = Load(port, a.clients), []
    time.sleep(a.phase)
    for fault in ("5xx", "slow", "401", "429"):
        t0 = time.time()
        MODE["now"] = fault
        time.sleep(a.phase)
        t1 = time.time()
        MODE["now"] = "ok"
        time.sleep(a.phase + (a.breaker_reset if fault in ("5xx", "slow") else 0))
        marks.append((fault, t0, t1, time.time()))
    calls = load.end()
    lost = counted_lost(port)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    got = captured(env["tmp"] / "flaps", env["priv"])
    names = {"5xx": "upstream 500s", "slow": "upstream slower than the 2 s timeout", "401": "upstream 401",
             "429": "upstream 429 + Retry-After"}
    rows = [row(f"healthy upstream ({a.phase:g} s)", [c for c in calls if c[0] < marks[0][1]], got, lost,
                "0 (store healthy)", 0.0)]
    for fault, t0, t1, t2 in marks:
        window = [c for c in calls if t0 <= c[0] < t2]
        retry_after = sum(c[4] == 429 and c[5] == "1" for c in window)
        rows.append(row(f"{names[fault]} ({a.phase:g} s), then healthy", window, got, lost, "0 (store healthy)",
                        recovery(window, t1, t2), {"429s_with_retry_after": retry_after}))
    return rows


def kill(a, env):
    port, store = free_port(), env["tmp"] / "kill"
    p, _ = start(port, store, env["pub"], env["upstream"], a)
    load = Load(port, a.clients)
    time.sleep(a.phase)
    t_kill = time.time()
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(1.0)
    t_restart = time.time()
    p, _ = start(port, store, env["pub"], env["upstream"], a)
    time.sleep(a.phase)
    calls = load.end()
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    got = captured(store, env["priv"])
    first_ok = min((c[1] for c in calls if c[0] >= t_restart and c[4] == 200), default=None)
    before = [c for c in calls if c[1] < t_kill and c[4] == 200]
    last_second = sum(1 for c in before if c[1] >= t_kill - 1.0)
    r = row("gateway SIGKILL mid-load, restarted 1 s later", calls, got, "n/a (process killed)",
            f"<= {a.capture_batch} + {a.backlog} (the store's unwritten batch + the hand-off backlog; "
            f"{last_second} calls were answered in the last second)",
            None if first_ok is None else round(first_ok - t_restart, 2),
            {"recover_is": "restart command to first 2xx (includes process start)"})
    return [r]


def disk(a, env):
    mnt = env["tmp"] / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        port, store = free_port(), mnt / "store"
        p, _ = start(port, store, env["pub"], env["upstream"], a)
        health = lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        load = Load(port, a.clients, pad=4000)
        t_full = None
        for _ in range(600):
            if health()["capture"]["error"]:
                t_full = time.time()
                break
            time.sleep(0.1)
        time.sleep(a.phase)
        during = [c for c in load.log if t_full and c[0] >= t_full]
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        t_free = time.time()
        recover = None
        for _ in range(600):
            if health()["capture"]["error"] is None:
                recover = round(time.time() - t_free, 2)
                break
            time.sleep(0.05)
        time.sleep(a.phase)
        calls = load.end()
        h, lost = health(), counted_lost(port)
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        got = captured(store, env["priv"])
        leftover = len(list((store / "segments").glob("*.tmp")))
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    ms = sorted((c[1] - c[0]) * 1000 for c in during if c[4] == 200)
    r = row("capture disk full (2 MiB tmpfs), then grown", calls, got, lost,
            "every lost call counted; no request waits for the store", recover,
            {"full_for_s": round(t_free - t_full, 1) if t_full else None, "ok_while_full": len(ms),
             "p99_ms_while_full": round(float(np.percentile(ms, 99)), 1) if ms else None,
             "healthz_after": h["status"], "tmp_files_left": leftover})
    return [r]


def table(rows) -> str:
    head = ("| scenario | requests sent | answered 2xx | errors by status | records captured | records lost (counted by the "
            "gateway) | stated bound on loss | time to recover | 2xx p50 / p99 ms |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        errs = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        rec = "never" if r["recover_s"] is None else f"{r['recover_s']} s"
        counted = "" if r["lost_counted"] is None else f" ({r['lost_counted']})"
        lines.append(f"| {r['scenario']} | {r['sent']} | {r['ok']} | {errs} | {r['captured']} | {r['lost']}{counted} | "
                     f"{r['bound']} | {rec} | {r['p50_ms']} / {r['p99_ms']} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    for k in ("--port", "--store", "--key-file", "--upstream"):
        s.add_argument(k, required=True)
    s.add_argument("--capture-batch", type=int, default=100)
    s.add_argument("--breaker-reset", type=float, default=3.0)
    s.add_argument("--backlog", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--phase", type=float, default=4.0, help="seconds of each fault and of each healthy phase after it")
    ap.add_argument("--capture-batch", type=int, default=100)
    ap.add_argument("--backlog", type=int, default=1000, help="the gateway's capture backlog (create_app's default)")
    ap.add_argument("--breaker-reset", type=float, default=3.0, help="seconds the breaker stays open")
    ap.add_argument("--scenarios", default="flaps,kill,disk")
    ap.add_argument("--out", default="benchmarks/out/gateway_faults.json")
    a = ap.parse_args()
    if a.cmd == "serve":
        return serve(a)
    from slm_agents.capture import generate_keys
    tmp = Path(tempfile.mkdtemp())
    priv, pub = generate_keys()
    (tmp / "store.pub").write_text(pub)
    ThreadingHTTPServer.request_queue_size = 256           # http.server's default listen backlog (5) resets connections
    up = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    up.daemon_threads = True
    threading.Thread(target=up.serve_forever, daemon=True).start()
    env = {"tmp": tmp, "priv": priv, "pub": tmp / "store.pub", "upstream": f"http://127.0.0.1:{up.server_address[1]}/v1"}
    rows = []
    for name in a.scenarios.split(","):
        MODE["now"] = "ok"
        rows += {"flaps": flaps, "kill": kill, "disk": disk}[name](a, env)
        print(json.dumps(rows[-1]), flush=True)
    up.shutdown()
    print(table(rows))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"clients": a.clients, "phase_s": a.phase, "capture_batch": a.capture_batch,
                                       "breaker_reset_s": a.breaker_reset, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
