import asyncio, json, os, pwd, signal, subprocess, sys, textwrap, time
from datetime import datetime, timezone
from pathlib import Path
import openai, pyarrow as pa, pyarrow.parquet as pq, pytest
from cryptography.exceptions import InvalidTag
from slm_agents.capture import (CallStore, LoopbackLLM, RoleError, StoreError, Tampered, WrongKey, call_context, capture,
                                generate_keys, decrypt_segment, load_key, wrap)

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
    store = CallStore(sys.argv[1], "writer", key=sys.argv[2], batch_size=int(sys.argv[4]), flush_interval=60,
                      max_block=30)              # a busy machine must not drop here: dropping is tested apart
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

def _store(tmp_path, writer_key, segments=3, rows=2, tags=None):
    "A store of `segments` segments of `rows` calls each; their paths, oldest first."
    with CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=rows) as w:
        for i in range(segments * rows):
            _rec(w, i, tags=tags)
            if i % rows == rows - 1: w.flush()
    return sorted((tmp_path / "s" / "segments").glob("seg-*.parquet"))

def _rewrite(path, col, value):
    "Rewrite one plaintext column of a segment file in place, keeping everything else."
    t = pq.read_table(path)
    i = t.schema.get_field_index(col)
    pq.write_table(t.set_column(i, t.schema.field(i), pa.array([value] * t.num_rows, t.schema.field(i).type)), path)

@pytest.mark.parametrize("col, value", [("tags", '{"route":"llm"}'), ("node", "evil"), ("agent", "x"), ("model", "x"),
                                        ("status", "error"), ("prompt_tokens", 9), ("latency_ms", 1.0),
                                        ("ts", datetime(2020, 1, 1, tzinfo=timezone.utc))])
def test_a_rewritten_plaintext_column_fails_its_rows(tmp_path, keys, col, value):
    admin_key, writer_key = keys
    seg = _store(tmp_path, writer_key, segments=1)[0]
    _rewrite(seg, col, value)
    with pytest.raises(Tampered, match="does not verify"): decrypt_segment(pq.read_table(seg), load_key(admin_key))

def test_a_relabelled_segment_is_reported_and_the_rest_stays_readable(tmp_path, keys):
    "Rewriting `tags.route` to 'llm' must not make `feedback_calls` train on the call."
    from slm_agents.router import feedback_calls
    admin_key, writer_key = keys
    segs = _store(tmp_path, writer_key, tags={"route": "slm"})
    _rewrite(segs[1], "tags", '{"route":"llm"}')
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 4 and len(feedback_calls(admin)) == 0
    assert list(admin.bad_segments) == [segs[1].name] and "digest differs" in admin.bad_segments[segs[1].name]
    _rewrite(segs[2], "tags", '{"route":"llm"}')                    # past the digest, its rows fail too
    with pytest.raises(Tampered): decrypt_segment(pq.read_table(segs[2]), load_key(admin_key))

def test_a_deleted_or_swapped_in_segment_is_reported(tmp_path, keys):
    admin_key, writer_key = keys
    segs = _store(tmp_path, writer_key)
    segs[1].unlink()
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 4 and admin.raw_count() == 4
    assert list(admin.bad_segments) == [segs[1].name] and admin.bad_segments[segs[1].name].startswith("missing")
    h = CallStore(tmp_path / "s", "analyst").health()                # any role sees it
    assert (h["missing_segments"], h["status"]) == (1, "degraded")
    (tmp_path / "s" / "segments" / "seg-99999999999999999999-copy.parquet").write_bytes(segs[0].read_bytes())
    admin.read_raw()
    assert admin.bad_segments["seg-99999999999999999999-copy.parquet"].startswith("unlisted")

def test_a_removed_manifest_line_breaks_the_chain(tmp_path, keys):
    admin_key, writer_key = keys
    segs = _store(tmp_path, writer_key)
    manifest = tmp_path / "s" / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], lines[2]]) + "\n")     # the entry gone with its segment
    segs[1].unlink()
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 2
    assert list(admin.bad_segments) == [segs[2].name] and admin.bad_segments[segs[2].name].startswith("unverified")

def test_stale_tmp_is_reported_and_a_failed_write_leaves_none(tmp_path, keys, monkeypatch):
    import fcntl
    admin_key, writer_key = keys
    _store(tmp_path, writer_key, segments=1)
    seg_dir = tmp_path / "s" / "segments"
    (seg_dir / "seg-1.parquet.dead.tmp").write_bytes(b"junk")       # left by a writer that died
    live = seg_dir / "seg-2.parquet.live.tmp"
    live.write_bytes(b"in progress")
    with open(live) as f:
        fcntl.flock(f, fcntl.LOCK_EX)                                 # a write still going on
        admin = CallStore(tmp_path / "s", "admin", key=admin_key)
        assert len(admin.read_raw()) == 2
        assert list(admin.bad_segments) == ["seg-1.parquet.dead.tmp"]
        assert admin.bad_segments["seg-1.parquet.dead.tmp"].startswith("stale")
        assert admin.health()["stale_tmp"] == 1
    live.unlink()
    store = CallStore(tmp_path / "s", "writer", key=writer_key, flush_interval=0.05)
    def full(fd): raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    _rec(store)
    with pytest.raises(StoreError, match="No space"): store.flush()
    assert sorted(p.name for p in seg_dir.glob("*.tmp")) == ["seg-1.parquet.dead.tmp"]
    monkeypatch.undo()
    store.close()

def test_the_audit_log_is_chained_and_names_the_uid(tmp_path, keys, monkeypatch):
    admin_key, writer_key = keys
    _store(tmp_path, writer_key, segments=1)
    for k in ("LOGNAME", "USER", "LNAME", "USERNAME"): monkeypatch.setenv(k, "someone_else")
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    for _ in range(3): admin.read_raw()
    log_path = tmp_path / "s" / "audit.log"
    entries = [json.loads(l) for l in log_path.read_text().splitlines()]
    assert {e["user"] for e in entries} == {pwd.getpwuid(os.getuid()).pw_name}
    assert admin.verify_audit().ok and admin.verify_audit().entries == 3
    lines = log_path.read_text().splitlines()
    log_path.write_text("\n".join([lines[0], lines[1].replace('"records":2', '"records":0'), lines[2]]) + "\n")
    assert admin.verify_audit().first_broken == 2                    # edited
    log_path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert admin.verify_audit().first_broken == 2                    # removed: the next one breaks
    with pytest.raises(RoleError): CallStore(tmp_path / "s", "analyst").verify_audit()

def test_files_are_created_private(tmp_path, keys, monkeypatch):
    "Under umask 022 every file is 0600 and every folder 0700 from creation: nothing is chmod-ed narrower after."
    admin_key, writer_key = keys
    old = os.umask(0o022)
    def no_chmod(*a, **kw): raise AssertionError("created wide, narrowed after")
    monkeypatch.setattr(os, "chmod", no_chmod)
    try:
        _store(tmp_path, writer_key, segments=2)
        admin = CallStore(tmp_path / "s", "admin", key=admin_key)
        admin.write_curated(admin.read_raw().drop("request"), "anon")
    finally: os.umask(old)
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in (tmp_path / "s").rglob("*")}
    modes["s"] = oct((tmp_path / "s").stat().st_mode & 0o777)
    assert {"s/store.json", "s/manifest.jsonl", "s/audit.log", "s/curated/anon.parquet"} <= set(modes)
    assert {k: v for k, v in modes.items() if v != ("0o700" if (tmp_path / k).is_dir() else "0o600")} == {}

def test_a_format_1_store_is_refused_clearly(tmp_path, keys):
    admin_key, writer_key = keys
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "store.json").write_text(json.dumps({"format": 1, "public_key": writer_key}))
    with pytest.raises(StoreError, match="format 1"): CallStore(tmp_path / "s", "admin", key=admin_key)

def test_health_during_writes_sees_no_half_written_segment(tmp_path, keys):
    "A reader takes the manifest's lock, so it never sees a segment before its entry, nor a live .tmp as stale."
    admin_key, writer_key = keys
    store = CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=1, flush_interval=0.001)
    seen = []
    for i in range(60):
        _rec(store, i)
        seen.append(store.health())
    store.close()
    assert [h for h in seen if h["status"] != "ok"] == []
    assert CallStore(tmp_path / "s", "admin", key=admin_key).raw_count() == 60

def test_interleaved_writers_chain_one_manifest(tmp_path, keys):
    "Two writers (two sessions, as two processes would be) append to one manifest; the admin verifies every entry."
    admin_key, writer_key = keys
    a = CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=1)
    b = CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=1)
    for i in range(6):
        _rec(a if i % 2 else b, i)
        (a if i % 2 else b).flush()
    a.close()
    b.close()
    sessions = [json.loads(l)["session"] for l in (tmp_path / "s" / "manifest.jsonl").read_text().splitlines()]
    assert len(sessions) == 6 and len(set(sessions)) == 2
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 6 and admin.bad_segments == {} and admin.health()["status"] == "ok"

def test_an_unlistable_segments_folder_is_reported_not_raised(tmp_path, keys):
    admin_key, writer_key = keys
    _store(tmp_path, writer_key, segments=1)
    seg_dir = tmp_path / "s" / "segments"
    for p in seg_dir.iterdir(): p.unlink()
    seg_dir.rmdir()
    seg_dir.write_text("")                                            # not a folder any more
    h = CallStore(tmp_path / "s", "analyst").health()
    assert h["status"] == "degraded" and h["missing_segments"] == 2   # the folder, and the listed segment

def test_a_manifest_rewritten_in_a_fresh_session_cannot_hide_a_segment(tmp_path, keys):
    "Anyone with the public key can sign entries in a session of their own, but not list another session's segments."
    from slm_agents.capture import MANIFEST, Session, _append_chained, _locked
    admin_key, writer_key = keys
    segs = _store(tmp_path, writer_key)
    manifest = tmp_path / "s" / MANIFEST
    old = [json.loads(x) for x in manifest.read_text().splitlines()]
    forger = Session.new(load_key(writer_key)).signer()
    manifest.write_text("")
    with _locked(manifest, exclusive=True) as fd:                     # the chain rebuilt without segment 1
        for e in old[:1] + old[2:]:
            _append_chained(fd, {k: v for k, v in e.items() if k != "mac"} | {"session": forger.id}, forger.mac_key)
    segs[1].unlink()
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 0                                # no segment is listed in its own session
    assert all("another session" in why for why in admin.bad_segments.values()) and len(admin.bad_segments) == 2

def test_the_writer_keeps_no_key_that_opens_a_segment(tmp_path, keys):
    admin_key, writer_key = keys
    segs = _store(tmp_path, writer_key, segments=2)
    sealed = {pq.read_schema(p).metadata[b"slm_agents.eph_pub"] for p in segs}
    assert len(sealed) == 2                                          # a key agreement of its own per segment
    store = CallStore(tmp_path / "s", "writer", key=writer_key)
    _rec(store)
    store.flush()
    assert store._signer._fields == ("id", "mac_key") and not hasattr(store._signer, "secret")
    store.close()

def test_a_failed_manifest_append_leaves_it_as_it_was(tmp_path, keys, monkeypatch):
    admin_key, writer_key = keys
    _store(tmp_path, writer_key, segments=1)
    manifest = tmp_path / "s" / "manifest.jsonl"
    before = manifest.read_bytes()
    store = CallStore(tmp_path / "s", "writer", key=writer_key, batch_size=1, flush_interval=0.05)
    real = os.fsync
    def fail_on_manifest(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "manifest.jsonl": raise OSError(28, "No space left on device")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fail_on_manifest)
    _rec(store)
    with pytest.raises(StoreError): store.flush(timeout=5)
    assert manifest.read_bytes() == before                            # no half line, no orphan entry
    monkeypatch.undo()
    store.flush()
    store.close()
    admin = CallStore(tmp_path / "s", "admin", key=admin_key)
    assert len(admin.read_raw()) == 3 and admin.bad_segments == {} and admin.health()["status"] == "ok"
