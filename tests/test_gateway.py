"""The gateway on loopback: an unmodified `openai` client gets routed answers; auth, bad input and upstream faults get the
right HTTP errors; the server stays up; every call it answers is captured."""
import json, socket, threading, time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import httpx, openai, pytest
from slm_agents.capture import CallStore, LoopbackLLM, generate_keys
from slm_agents.gateway import BackgroundServer, CircuitBreaker, create_app, parse_keys
from slm_agents.router import LLMClient, Router
from shoplog import ITEMS, TRIAGE, WORDS

KEYS = parse_keys("agent-key,ops-key:call+admin")
REVIEW = lambda i: {"model": "gpt-4o", "messages": [{"role": "system", "content": TRIAGE}, {"role": "user", "content": f"The {ITEMS[i % 8]} is great, order #{i}."}]}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a joke about routers."}]}

def _router(rd, base_url, force_slm=False, **llm):
    r = Router.load(rd, LLMClient(base_url, "upstream-key", **llm))
    if force_slm:       # serve every specialist answer, whatever the calibration said (a 6-step adapter rarely says a real label)
        for e in r.config["clusters"].values():
            if e.get("adapter"): e.update(route="slm", threshold=0.0, labels=None)
    return r

@pytest.fixture()
def store(tmp_path):
    priv, pub = generate_keys()
    return CallStore(tmp_path / "store", "writer", pub, batch_size=5), lambda: CallStore(tmp_path / "store", "admin", priv)

def test_openai_client_gets_routed_answers_and_every_call_is_captured(shop_run, store):
    _, rd, _ = shop_run; st, admin = store
    with LoopbackLLM(lambda req: {"role": "assistant", "content": "from upstream"}, api_key="upstream-key") as llm:
        app = create_app(_router(rd, llm.base_url, force_slm=True), KEYS, st, max_batch=8, window_ms=50)
        with BackgroundServer(app) as gw:
            client = openai.OpenAI(base_url=gw.base_url, api_key="agent-key", max_retries=0)
            with ThreadPoolExecutor(8) as ex:
                raws = list(ex.map(lambda i: client.chat.completions.with_raw_response.create(**REVIEW(i)), range(16)))
            chat = client.chat.completions.with_raw_response.create(**CHAT)
            chunks = list(client.chat.completions.create(**REVIEW(99), stream=True))
            models = [m.id for m in client.models.list()]
            health = httpx.get(gw.base_url[:-3] + "/healthz").json()
    st.close()
    routes = [r.headers["x-slm-route"] for r in raws]
    for r in raws:
        c = r.parse()
        if r.headers["x-slm-route"] == "slm": assert c.choices[0].message.content and c.model.startswith("slm:")
        else: assert r.headers["x-slm-reason"].startswith("invalid answer") and c.choices[0].message.content == "from upstream"
    assert max(app.state.batcher.batches) > 1                                        # concurrent specialist calls were batched
    assert chat.headers["x-slm-route"] == "llm" and chat.parse().choices[0].message.content == "from upstream"
    assert chunks[-1].choices[0].finish_reason == "stop" and "".join(c.choices[0].delta.content or "" for c in chunks)
    assert models[0] == "router" and health["status"] == "ok"
    rows = admin().read_raw()
    assert len(rows) == 18 and sorted(json.loads(t)["route"] for t in rows["tags"]) == sorted(routes + ["llm", _route(chunks)])

def _route(chunks): return "slm" if chunks[0].model.startswith("slm:") else "llm"

def test_auth_and_bad_input_get_the_right_errors_and_the_server_stays_up(shop_run, store):
    _, rd, _ = shop_run; st, admin = store
    with LoopbackLLM(lambda req: {"role": "assistant", "content": "ok"}, api_key="upstream-key") as llm:
        app = create_app(_router(rd, llm.base_url), KEYS, st, max_body=4096)
        with BackgroundServer(app) as gw:
            u, ok = gw.base_url + "/chat/completions", {"Authorization": "Bearer agent-key"}
            codes = {"no key": httpx.post(u, json=CHAT).status_code,
                     "wrong key": httpx.post(u, json=CHAT, headers={"Authorization": "Bearer nope"}).status_code,
                     "metrics without admin": httpx.get(gw.base_url[:-3] + "/metrics", headers=ok).status_code,
                     "malformed JSON": httpx.post(u, content=b'{"messages": [', headers=ok | {"Content-Type": "application/json"}).status_code,
                     "wrong content type": httpx.post(u, content=json.dumps(CHAT), headers=ok | {"Content-Type": "text/plain"}).status_code,
                     "oversized": httpx.post(u, json=CHAT | {"pad": "x" * 10_000}, headers=ok).status_code,
                     "no messages": httpx.post(u, json={"model": "m"}, headers=ok).status_code,
                     "good": httpx.post(u, json=CHAT, headers=ok).status_code}
            metrics = httpx.get(gw.base_url[:-3] + "/metrics", headers={"Authorization": "Bearer ops-key"}).text
    st.close()
    assert codes == {"no key": 401, "wrong key": 401, "metrics without admin": 403, "malformed JSON": 400, "wrong content type": 415,
                     "oversized": 413, "no messages": 400, "good": 200}
    assert 'slm_gateway_errors_total{status="413"} 1.0' in metrics and 'slm_gateway_errors_total{status="401"} 2.0' in metrics
    assert len(admin().read_raw()) == 1                                   # rejected requests are not calls; the good one is captured

class _Garbage(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(b"<html>not json")

def _free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def test_upstream_faults_fall_back_cleanly_and_the_breaker_opens(shop_run, store):
    _, rd, _ = shop_run; st, admin = store
    garbage = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage); threading.Thread(target=garbage.serve_forever, daemon=True).start()
    slow = LoopbackLLM(lambda req: (time.sleep(2), {"role": "assistant", "content": "late"})[1], api_key="upstream-key")
    with slow:
        cases = {"down": f"http://127.0.0.1:{_free_port()}/v1", "slow": slow.base_url, "garbage": f"http://127.0.0.1:{garbage.server_address[1]}/v1"}
        got = {}
        for name, url in cases.items():
            app = create_app(_router(rd, url, timeout=0.5, max_retries=0), KEYS, st, breaker=CircuitBreaker(failures=2, reset_s=60))
            with BackgroundServer(app) as gw:
                client = openai.OpenAI(base_url=gw.base_url, api_key="agent-key", max_retries=0)
                codes = []
                for _ in range(3):
                    try: client.chat.completions.create(**CHAT); codes.append(200)
                    except openai.APIStatusError as e: codes.append((e.status_code, e.message))
                got[name] = (codes, httpx.get(gw.base_url[:-3] + "/healthz").json()["upstream"])
    garbage.shutdown(); st.close()
    for name in ("down", "slow"):
        codes, state = got[name]
        assert [c[0] for c in codes] == [503, 503, 503] and "circuit open" in codes[2][1] and state == "open", (name, got[name])
    assert [c[0] for c in got["garbage"][0]] == [502, 502, 503] and got["garbage"][1] == "open"
    rows = admin().read_raw()
    assert len(rows) == 9 and rows["status"].to_list() == ["error"] * 9 and rows["error"].str.starts_with("upstream LLM").all()

def test_invalid_specialist_output_falls_back_and_shadow_mode_serves_the_llm(shop_run, store):
    _, rd, _ = shop_run; st, admin = store
    with LoopbackLLM(lambda req: {"role": "assistant", "content": "positive"}, api_key="upstream-key") as llm:
        strict = _router(rd, llm.base_url, force_slm=True)
        cid = next(c for c, e in strict.config["clusters"].items() if e.get("format") == "label" and e.get("adapter"))
        strict.config["clusters"][cid]["labels"] = ["no-such-label"]          # every answer fails the label check
        with BackgroundServer(create_app(strict, KEYS, st)) as gw:
            r = httpx.post(gw.base_url + "/chat/completions", json=REVIEW(1), headers={"Authorization": "Bearer agent-key"})
        shadow_app = create_app(_router(rd, llm.base_url, force_slm=True), KEYS, st, shadow=True)
        with BackgroundServer(shadow_app) as gw:
            s = httpx.post(gw.base_url + "/chat/completions", json=REVIEW(2), headers={"Authorization": "Bearer agent-key"})
            metrics = httpx.get(gw.base_url[:-3] + "/metrics", headers={"Authorization": "Bearer ops-key"}).text
    st.close()
    assert r.status_code == 200 and r.headers["x-slm-route"] == "llm" and r.headers["x-slm-reason"] == "invalid answer: label not in the cluster's label set"
    assert s.status_code == 200 and s.headers["x-slm-reason"] == "shadow mode" and s.json()["choices"][0]["message"]["content"] == "positive"
    assert "slm_gateway_shadow_total" in metrics and "shadow" not in s.json()
    rows = admin().read_raw().sort("ts")
    tags, logged = json.loads(rows["tags"][1]), json.loads(rows["response"][1])
    assert tags["shadow_agree"] in ("True", "False") and tags["shadow_outcome"] and "shadow_answer" not in tags
    assert logged["shadow"]["model"].startswith("slm:")                    # the specialist's answer, encrypted with the response
