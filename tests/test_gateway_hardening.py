"""No client can take the gateway down: each probe is a request a client could send, against a gateway whose router is a
stand-in (no pipeline run needed), with a real loopback OpenAI-compatible upstream."""
import json, threading, time
from concurrent.futures import ThreadPoolExecutor
import httpx, pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from slm_agents.capture import LoopbackLLM
from slm_agents.gateway import BackgroundServer, CircuitBreaker, create_app, parse_keys
from slm_agents.router import Decision, LLMClient, as_completion

KEYS = parse_keys("agent-key")
AUTH = {"Authorization": "Bearer agent-key"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

class StandIn:
    "A router that sends 'label me' to a specialist answering 'a' at once, and everything else to the LLM."
    def __init__(self, llm):
        self.llm = llm
        self.config = {"clusters": {"0": {"route": "slm", "format": "label", "model": "stand-in", "adapter": "x"}}}
    def decide(self, req):
        slm = req["messages"][-1].get("content") == "label me"
        return Decision(0 if slm else -1, 1.0, "slm" if slm else "llm", "specialist" if slm else "cluster -1 stays on the LLM: noise")
    def answer(self, cid, reqs, batch_size=8): return [("a", 1.0)] * len(reqs)
    def accept(self, d, req, text, conf): return d
    def completion(self, cid, text): return as_completion(text, "label", "slm:stand-in/cluster-0")

def gateway(upstream, **kw):
    return BackgroundServer(create_app(StandIn(LLMClient(upstream.base_url, upstream.api_key, max_retries=0)), KEYS, **kw))

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
