import asyncio, json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import openai, pyarrow.parquet as pq, pytest
from cryptography.exceptions import InvalidTag
from slm_agents.capture import (CallStore, LoopbackLLM, RoleError, WrongKey, call_context, capture, generate_keys,
                                decrypt_segment, load_key, wrap)

@pytest.fixture(scope="module")
def keys(): return generate_keys()

def _client(llm, **kw): return openai.OpenAI(base_url=llm.base_url, api_key="loopback-key", max_retries=0, **kw)

def test_round_trip_over_real_http(tmp_path, keys):
    admin_key, writer_key = keys
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    def answer(req):
        if req.get("tools"): return {"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
        return {"content": "echo " + req["messages"][-1]["content"]}
    with LoopbackLLM(answer) as llm, CallStore(tmp_path / "s", "writer", key=writer_key) as store:
        plain = _client(llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "a secret-ish text"}])
        client = wrap(_client(llm), store, agent="bot", node="n1")
        got = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a secret-ish text"}])
        tc = client.chat.completions.create(model="m", tools=[tool], messages=[{"role": "user", "content": "weather?"}],
                                            extra_headers={"X-Secret": "s3cr3t"})
        with call_context(node="n2", ticket="T9"):
            streamed = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": "x y z"}]))
        with pytest.raises(openai.NotFoundError):
            wrap(openai.OpenAI(base_url=llm.base_url.replace("/v1", "/nope"), api_key="loopback-key", max_retries=0), store,
                 agent="bot").chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    # the caller sees exactly what the unwrapped client returns
    assert got.choices[0].message.content == plain.choices[0].message.content == "echo a secret-ish text"
    assert tc.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert streamed == "echo x y z"
    raw = CallStore(tmp_path / "s", "admin", key=admin_key).read_raw().sort("ts")
    assert raw["node"].to_list() == ["n1", "n1", "n2", ""]
    assert raw["status"].to_list() == ["ok", "ok", "ok", "error"] and "NotFoundError" in raw["error"][3]
    assert json.loads(raw["tags"][2]) == {"ticket": "T9"}
    req1, resp1 = json.loads(raw["request"][1]), json.loads(raw["response"][1])
    assert "extra_headers" not in req1 and "s3cr3t" not in raw["request"][1]
    assert req1["tools"][0]["function"]["name"] == "get_weather"
    assert resp1["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    assert json.loads(raw["response"][2])["choices"][0]["message"]["content"] == "echo x y z"
    assert raw["prompt_tokens"][0] == 3 and raw["latency_ms"][0] > 0
    # at rest: no plaintext in the segment files
    for seg in (tmp_path / "s" / "segments").glob("*.parquet"): assert b"secret-ish" not in seg.read_bytes()

def test_async_client_is_captured(tmp_path, keys):
    admin_key, writer_key = keys
    async def go(llm, store):
        client = wrap(openai.AsyncOpenAI(base_url=llm.base_url, api_key="loopback-key", max_retries=0), store, agent="a", node="async")
        rs = await asyncio.gather(*[client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}]) for i in range(5)])
        stream = await client.chat.completions.create(model="m", stream=True, messages=[{"role": "user", "content": "s"}])
        chunks = [c async for c in stream]
        return rs, chunks
    with LoopbackLLM() as llm, CallStore(tmp_path / "s", "writer", key=writer_key) as store:
        rs, chunks = asyncio.run(go(llm, store))
    assert sorted(r.choices[0].message.content for r in rs) == [f"echo: q{i}" for i in range(5)]
    raw = CallStore(tmp_path / "s", "admin", key=admin_key).read_raw()
    assert len(raw) == 6 and set(raw["node"]) == {"async"}

def test_roles_and_keys_give_clear_errors(tmp_path, keys):
    admin_key, writer_key = keys
    with CallStore(tmp_path / "s", "writer", key=writer_key) as w:
        w.record(time.time(), "a", "n", {"messages": [{"role": "user", "content": "x"}]}, None, 0.1)
    with pytest.raises(RoleError, match="cannot decrypt"): CallStore(tmp_path / "s", "writer", key=writer_key).read_raw()
    with pytest.raises(RoleError, match="cannot decrypt"): CallStore(tmp_path / "s", "analyst").read_raw()
    with pytest.raises(RoleError, match="cannot append"): CallStore(tmp_path / "s", "analyst").record(0, "", "", {}, None, 0)
    with pytest.raises(RoleError, match="only append"): CallStore(tmp_path / "s", "writer", key=writer_key).read_curated()
    with pytest.raises(WrongKey, match="does not belong"): CallStore(tmp_path / "s", "admin", key=generate_keys()[0])
    with pytest.raises(WrongKey, match="needs the private key"): CallStore(tmp_path / "s", "admin", key=writer_key)
    with pytest.raises(WrongKey, match="malformed"): CallStore(tmp_path / "s", "admin", key="slmpriv-AAAA")
    os.environ.pop("SLM_AGENTS_KEY", None); os.environ.pop("SLM_AGENTS_KEY_FILE", None)
    with pytest.raises(WrongKey, match="SLM_AGENTS_KEY"): CallStore(tmp_path / "s", "writer")
    kf = tmp_path / "admin.key"; kf.write_text(admin_key)
    admin = CallStore(tmp_path / "s", "admin", key_file=kf)
    assert len(admin.read_raw()) == 1 and len(admin.read_raw(limit=1)) == 1
    audit = [json.loads(l) for l in (tmp_path / "s" / "audit.log").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["decrypt", "decrypt"] and audit[0]["records"] == 1
    assert admin_key.partition("-")[2] not in (tmp_path / "s" / "audit.log").read_text()
    admin.write_curated(admin.read_raw().drop("request"), "anon")
    assert len(CallStore(tmp_path / "s", "analyst").read_curated("anon")) == 1

def test_ciphertext_bound_to_its_row(tmp_path, keys):
    admin_key, writer_key = keys
    with CallStore(tmp_path / "s", "writer", key=writer_key) as w:
        for i in range(2): w.record(time.time(), "a", "n", {"messages": [{"role": "user", "content": f"m{i}"}]}, None, 0.1)
    t = pq.read_table(next((tmp_path / "s" / "segments").glob("*.parquet")))
    req = t.column("request").to_pylist()
    swapped = t.set_column(t.schema.get_field_index("request"), "request", [[req[1], req[0]]])
    with pytest.raises(InvalidTag): decrypt_segment(swapped, load_key(admin_key))

def test_decorator_records_any_callable(tmp_path, keys):
    admin_key, writer_key = keys
    with CallStore(tmp_path / "s", "writer", key=writer_key) as store:
        @capture(store, agent="a", node="summarise")
        def llm_call(messages, model="x"): return "short summary"
        @capture(store, agent="a", node="broken")
        def fails(prompt): raise TimeoutError("upstream slow")
        assert llm_call(messages=[{"role": "user", "content": "long text"}]) == "short summary"
        with pytest.raises(TimeoutError): fails("p")
    raw = CallStore(tmp_path / "s", "admin", key=admin_key).read_raw().sort("ts")
    assert json.loads(raw["response"][0])["choices"][0]["message"]["content"] == "short summary"
    assert raw["status"].to_list() == ["ok", "error"] and raw["error"][1] == "TimeoutError: upstream slow"

CHILD = textwrap.dedent("""
    import os, sys, time, signal
    from slm_agents.capture import CallStore
    store = CallStore(sys.argv[1], "writer", key=sys.argv[2], batch_size=int(sys.argv[4]), flush_interval=60)
    for i in range(int(sys.argv[5])): store.record(time.time(), "a", "n", {"messages": [{"role": "user", "content": str(i)}]}, None, 0.001)
    mode = sys.argv[3]
    if mode == "crash": os._exit(1)
    if mode == "wait": print("ready", flush=True); time.sleep(60)
""")

def _child(tmp_path, writer_key, mode, batch, n):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "s"), writer_key, mode, str(batch), str(n)],
                            stdout=subprocess.PIPE, text=True)

@pytest.mark.parametrize("mode", ["exit", "sigterm", "crash"])
def test_durability_on_exit_signal_and_crash(tmp_path, keys, mode):
    admin_key, writer_key = keys
    batch, n = 100, 1050
    p = _child(tmp_path, writer_key, "wait" if mode == "sigterm" else mode, batch, n)
    if mode == "sigterm":
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(signal.SIGTERM)
    p.wait(60)
    got = CallStore(tmp_path / "s", "admin", key=admin_key).raw_count()
    if mode == "crash": assert n - batch <= got <= n     # a crash loses at most one batch
    else: assert got == n                                # exit and SIGTERM flush everything
    assert not list((tmp_path / "s" / "segments").glob("*.tmp")) or mode == "crash"

def test_unserialisable_response_is_kept_as_an_error_row(tmp_path, keys):
    admin_key, writer_key = keys
    with CallStore(tmp_path / "s", "writer", key=writer_key) as w:
        w.record(time.time(), "a", "n", {"messages": [{"role": "user", "content": "x"}]}, object(), 0.1)
    raw = CallStore(tmp_path / "s", "admin", key=admin_key).read_raw()
    assert raw["status"].to_list() == ["error"] and "cannot serialise object" in raw["error"][0]
    assert json.loads(raw["request"][0])["messages"][0]["content"] == "x"

def _rec(store, i=0, tags=None):
    return store.record(time.time(), "a", "n", {"messages": [{"role": "user", "content": f"m{i}"}]}, None, 0.1, tags=tags)

def test_a_failing_store_never_holds_the_agent_up_and_says_so(tmp_path, keys, monkeypatch):
    "Segment writes fail (disk full): record returns within its bound, drops and counts; health says degraded."
    admin_key, writer_key = keys
    store = CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=2, flush_interval=0.05, max_block=0.2)
    monkeypatch.setattr(store, "_write", lambda batch: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    import threading
    kept = []
    t = threading.Thread(target=lambda: kept.extend(_rec(store, i) for i in range(6)))
    t.start(); t.join(60)
    assert not t.is_alive() and len(kept) == 6                        # it returned: a full store does not block the caller
    assert kept[:2] == [True, True] and store.dropped == kept.count(False) >= 3
    time.sleep(0.3)
    assert store.health()["status"] == "degraded" and "No space" in store.health()["error"]
    monkeypatch.undo()                                                 # the disk has room again: the kept batch lands
    store.flush()
    assert store.health()["error"] is None
    store.close()
    assert CallStore(tmp_path / "s", "admin", key=admin_key).raw_count() == kept.count(True)

def test_one_bad_record_or_segment_spoils_only_itself(tmp_path, keys):
    admin_key, writer_key = keys
    with CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=3) as w:
        _rec(w, 0); _rec(w, 1, tags={"when": object()}); _rec(w, 2)     # tags that cannot be JSON
        w.flush()
        for i in range(3, 6): _rec(w, i)
    segs = sorted((tmp_path / "s" / "segments").glob("seg-*.parquet"))
    assert len(segs) == 2
    assert oct(segs[0].stat().st_mode & 0o777) == "0o600" and oct((tmp_path / "s").stat().st_mode & 0o777) == "0o700"
    segs[1].write_bytes(segs[1].read_bytes()[:100])                   # truncated
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    raw = admin.read_raw()
    assert len(raw) == 3 and admin.raw_count() == 3 and list(admin.bad_segments) == [segs[1].name]
    assert json.loads(raw.sort("ts")["tags"][1]) == {"capture_error": "tags not serialisable: TypeError"}

def test_the_writer_refuses_the_private_key(tmp_path, keys):
    admin_key, _ = keys
    with pytest.raises(WrongKey, match="public key"): CallStore(tmp_path / "s", "writer", key=admin_key)
