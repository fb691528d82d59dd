"""No client can take the gateway down: each probe is a request a client could send, against a gateway whose router is a
stand-in (no pipeline run needed), with a real loopback OpenAI-compatible upstream."""
import json, socket, threading, time
from concurrent.futures import ThreadPoolExecutor
import httpx, pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from slm_agents.capture import LoopbackLLM
from slm_agents.gateway import BackgroundServer, CircuitBreaker, create_app, parse_keys
from slm_agents.router import Decision, LLMClient, Router, as_completion

KEYS = parse_keys("agent-key,ops-key:admin")
AUTH = {"Authorization": "Bearer agent-key"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

class StandIn:
    "A router that sends 'label me' to a specialist answering 'a' at once, and everything else to the LLM."
    def __init__(self, llm):
        self.llm = llm
        self.config = {"clusters": {0: {"route": "slm", "format": "label", "model": "stand-in", "adapter": "x"}}}
    def decide(self, req):
        slm = req["messages"][-1].get("content") == "label me"
        return Decision(0 if slm else -1, 1.0, "slm" if slm else "llm", "specialist" if slm else "cluster -1 stays on the LLM: noise")
    def answer(self, cid, reqs, batch_size=8): return [("a", 1.0)] * len(reqs)
    def accept(self, d, req, text, conf): return d
    def completion(self, cid, text): return as_completion(text, "label", "slm:stand-in/cluster-0")
    serve = Router.serve                 # the one routing path, over the stand-in's decide/answer/accept

def gateway(upstream, server=None, **kw):
    "The stand-in's gateway on loopback: `server` for uvicorn (`uvicorn_config`), `kw` for `create_app`."
    app = create_app(StandIn(LLMClient(upstream.base_url, upstream.api_key, max_retries=0)), KEYS, **kw)
    return BackgroundServer(app, **(server or {}))

@pytest.fixture(scope="module")
def llm():
    with LoopbackLLM(lambda req: {"role": "assistant", "content": "from upstream"}) as srv: yield srv

def test_unknown_fields_are_refused_and_cannot_open_the_breaker(llm):
    breaker = CircuitBreaker(failures=2, reset_s=60)
    with gateway(llm, breaker=breaker) as gw:
        u = gw.base_url + "/chat/completions"
        bad = [httpx.post(u, json=CHAT | extra, headers=AUTH) for extra in
               ({"foo": 1}, {"extra_body": {"x": 1}}, {"extra_headers": {"x": "y"}}, {"timeout": 1}, {"foo": 2})]
        good = httpx.post(u, json=CHAT, headers=AUTH)
    assert [r.status_code for r in bad] == [400] * 5 and "extra_body" in bad[1].json()["error"]["message"]
    assert good.status_code == 200 and breaker.state == "closed" and breaker.count == 0
    assert all(set(r) <= {"model", "messages"} for r in llm.requests)        # nothing unknown reached the upstream

def test_deep_nesting_is_a_400_and_docs_are_off(llm):
    deep = '{"messages": [{"role": "user", "content": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    with gateway(llm) as gw:
        r = httpx.post(gw.base_url + "/chat/completions", content=deep, headers=AUTH | {"Content-Type": "application/json"})
        docs = [httpx.get(gw.base_url[:-3] + p).status_code for p in ("/docs", "/redoc", "/openapi.json")]
        after = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH).status_code
    assert r.status_code == 400 and "nests too deeply" in r.json()["error"]["message"]
    assert docs == [404, 404, 404] and after == 200

@pytest.mark.parametrize("status,client_gets", [(401, 502), (403, 502), (429, 429), (500, 502)])
def test_upstream_errors_map_to_the_right_status_and_only_5xx_count(status, client_gets):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    class Fails(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status); self.send_header("Content-Type", "application/json"); self.end_headers()
            self.wfile.write(json.dumps({"error": {"message": "no", "type": "x"}}).encode())
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Fails); threading.Thread(target=srv.serve_forever, daemon=True).start()
    breaker = CircuitBreaker(failures=3, reset_s=60)
    router = StandIn(LLMClient(f"http://127.0.0.1:{srv.server_address[1]}/v1", "k", max_retries=0))
    with BackgroundServer(create_app(router, KEYS, breaker=breaker)) as gw:
        codes = [httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH).status_code for _ in range(2)]
    srv.shutdown()
    assert codes == [client_gets] * 2
    assert breaker.count == (2 if status >= 500 else 0)

def test_a_slow_upstream_does_not_stall_specialist_calls():
    release = threading.Event()
    with LoopbackLLM(lambda req: (release.wait(20), {"role": "assistant", "content": "late"})[1]) as slow, gateway(slow) as gw:
        u, done = gw.base_url + "/chat/completions", []
        post = lambda body: (httpx.post(u, json=body, headers=AUTH, timeout=30), done.append(body["messages"][0]["content"]))[0]
        with ThreadPoolExecutor(12) as ex:
            waiting = [ex.submit(post, CHAT) for _ in range(10)]          # more than the default executor's threads
            time.sleep(0.5)
            served = post(CHAT | {"messages": [{"role": "user", "content": "label me"}]})
            finished_first = list(done)
            release.set()
            assert all(f.result().status_code == 200 for f in waiting)
    assert served.status_code == 200 and served.headers["x-slm-route"] == "slm"
    assert finished_first == ["label me"]                                # answered while every LLM call was still waiting

@pytest.fixture(scope="module")
def shared(llm):
    with gateway(llm) as gw: yield gw.base_url + "/chat/completions"

MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", ""])},
                                optional={"content": st.none() | st.text(max_size=30)})
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=20)

@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSONISH | st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=3)}, optional={"tools": JSONISH, "x": JSONISH}))
def test_any_json_body_gets_an_answer_or_a_400_never_a_5xx(shared, body):
    r = httpx.post(shared, content=json.dumps(body), headers=AUTH | {"Content-Type": "application/json"})
    assert r.status_code == 200 or (r.status_code == 400 and r.json()["error"]["message"]), (r.status_code, r.text[:200])

def _port(gw): return int(gw.base_url.rsplit(":", 1)[1].split("/")[0])


def test_slow_headers_are_cut_off_and_a_stalled_body_gets_408(llm):
    with gateway(llm, server={"header_timeout": 1}, body_timeout=2) as gw:
        slow = socket.create_connection(("127.0.0.1", _port(gw)))
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")            # headers never finished
        slow.settimeout(8)
        cut = slow.recv(100)                                                           # b"": the gateway closed it
        stalled = socket.create_connection(("127.0.0.1", _port(gw)))
        stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agent-key\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")   # headers done, body never
        stalled.settimeout(8)
        late = b""
        while b"not received" not in late and (chunk := stalled.recv(4096)):
            late += chunk
        with httpx.Client() as c:                                      # keep-alive: a second request still works
            again = [c.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH).status_code for _ in range(2)]
        config = gw.server.config
    assert cut == b""
    assert late.startswith(b"HTTP/1.1 408") and b"body not received within 2 s" in late
    assert again == [200, 200] and config.limit_concurrency == 256 and config.timeout_keep_alive == 5

class HungStore:
    "A capture store whose `record` hangs until released (a stuck disk); it reports itself healthy."
    def __init__(self):
        self.release, self.got, self.dropped, self.error = threading.Event(), [], 0, None
    def record(self, *a, **kw):
        self.release.wait(30)
        self.got.append(a[3])
    def health(self): return {"written": len(self.got), "dropped": 0, "error": None, "bad_segments": 0, "status": "ok"}
    def close(self): pass

def test_a_hung_store_holds_no_request_up_and_every_dropped_call_is_counted(llm):
    store = HungStore()
    with gateway(llm, store=store, capture_backlog=4) as gw:
        u, root = gw.base_url + "/chat/completions", gw.base_url[:-3]
        post = lambda i: httpx.post(u, json=CHAT | {"user": f"u{i}"}, headers=AUTH, timeout=10).status_code
        try:
            with ThreadPoolExecutor(12) as ex: codes = list(ex.map(post, range(12)))
            answered_while_hung, full = len(store.got), httpx.get(root + "/healthz").json()
        finally: store.release.set()
        for _ in range(100):
            if (after := httpx.get(root + "/healthz").json())["capture"]["backlog"] == 0: break
            time.sleep(0.05)
        metrics = httpx.get(root + "/metrics", headers={"Authorization": "Bearer ops-key"}).text
    assert codes == [200] * 12 and answered_while_hung == 0                  # all twelve answered while the store hung
    assert full["status"] == "degraded" and full["capture"]["backlog"] == 4 and full["capture"]["handoff_dropped"] == 8
    assert after["status"] == "ok" and len(store.got) == 4                   # the backlog reached the store
    assert "slm_gateway_capture_dropped 8.0" in metrics                       # 4 captured + 8 counted as dropped = 12

def _poll(url, done, tries=200):
    "GET `url` until `done(json)`; the last answer."
    for _ in range(tries):
        if done(got := httpx.get(url).json()): return got
        time.sleep(0.05)
    return got

def test_a_failing_store_makes_healthz_degraded_and_its_losses_are_counted(llm, tmp_path):
    from slm_agents.capture import CallStore, generate_keys
    priv, pub = generate_keys()
    store = CallStore(tmp_path / "s", "writer", pub, batch_size=1, max_pending=1, flush_interval=0.05, max_block=0.2)
    seg = tmp_path / "s" / "segments"
    seg.rmdir()
    seg.write_text("")                                   # every segment write now fails, as on a full disk
    with gateway(llm, store=store) as gw:
        u, root = gw.base_url + "/chat/completions", gw.base_url[:-3]
        codes = [httpx.post(u, json=CHAT, headers=AUTH).status_code for _ in range(6)]
        failing = _poll(root + "/healthz", lambda h: h["capture"].get("backlog") == 0 and store.dropped == 5)
        lost = httpx.get(root + "/metrics", headers={"Authorization": "Bearer ops-key"}).text
        seg.unlink()
        seg.mkdir()                                      # room again: the held call is written at the next retry
        healed = _poll(root + "/healthz", lambda h: h["capture"]["error"] is None and store.written == 1)  # an answer read after healing
        store_says = store.health()["status"]
    store.close()
    assert codes == [200] * 6 and failing["status"] == "degraded" and failing["capture"]["error"]
    assert "slm_gateway_capture_dropped 5.0" in lost and "slm_gateway_capture_failing 1.0" in lost   # 1 held, 5 counted
    assert healed["capture"]["error"] is None and healed["status"] == healed["capture"]["status"] == store_says
    assert len(CallStore(tmp_path / "s", "admin", priv).read_raw()) + store.dropped == 6     # captured + counted = answered

def _upstream(answers):
    "A loopback upstream answering each call with the next (status, headers) of `answers`; the last repeats."
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    left = list(answers)
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            status, headers = left.pop(0) if len(left) > 1 else left[0]
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items(): self.send_header(k, v)
            self.end_headers()
            self.wfile.write(json.dumps({"error": {"message": "no", "type": "x"}}).encode())
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"

def test_an_upstream_429_passes_on_retry_after():
    srv, url = _upstream([(429, {"Retry-After": "7"}), (429, {})])
    with BackgroundServer(create_app(StandIn(LLMClient(url, "k", max_retries=0)), KEYS)) as gw:
        got = [httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH) for _ in range(2)]
    srv.shutdown()
    assert [r.status_code for r in got] == [429, 429] and got[0].json()["error"]["type"] == "rate_limit_error"
    assert got[0].headers.get("retry-after") == "7" and "retry-after" not in got[1].headers

def test_credential_refusals_between_5xx_neither_count_nor_reset_the_breaker():
    srv, url = _upstream([(500, {}), (500, {}), (401, {}), (403, {}), (500, {})])
    breaker = CircuitBreaker(failures=3, reset_s=60)
    with BackgroundServer(create_app(StandIn(LLMClient(url, "k", max_retries=0)), KEYS, breaker=breaker)) as gw:
        codes, counts = [], []
        for _ in range(6):
            codes.append(httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH).status_code)
            counts.append(breaker.count)
    srv.shutdown()
    assert codes == [502, 502, 502, 502, 502, 503] and counts == [1, 2, 2, 2, 3, 3]     # the third 5xx opened it
