"""Qwen2.5-Coder-0.5B-Instruct from the six PyPI packages it is split over: joined, checked, loaded, answering a tool call."""
import json

from slm_agents.models import REGISTRY, generate, join_parts, load, prompt_text, render_messages
from slm_agents.formats import parse_tool_calls

QWEN = "qwen2.5-coder-0.5b-instruct"


def test_qwen_coder_from_its_parts_writes_a_tool_call():
    spec = REGISTRY[QWEN]
    path = join_parts(spec)                          # joined once into the cache, SHA-256 checked
    assert path.stat().st_size == 491_400_064
    model, tok = load(QWEN)
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    request = {"messages": [{"role": "user", "content": "What's the weather in Lisbon right now?"}], "tools": [weather]}
    out, = generate(model, tok, [prompt_text(tok, render_messages(request))], max_new_tokens=48, batch_size=1)
    calls = parse_tool_calls(out)
    assert calls and calls[0]["name"] == "get_weather", out
    assert "lisb" in json.dumps(calls[0]["arguments"]).lower(), out     # Lisbon or Lisboa


def _declared(tool: dict) -> tuple[set, set]:
    p = (tool.get("function") or tool).get("parameters") or {}
    return set(p.get("properties") or {}), set(p.get("required") or [])


def test_constrained_tool_calls_name_only_offered_functions_and_parameters(data_dir):
    "The untrained 135M, free and constrained, on BFCL calls each offering several functions."
    from slm_agents.datasets import agent_mix
    from slm_agents.models import answer_constraint, generate_scored
    from slm_agents.formats import MAX_NEW
    rows = [r for r in agent_mix(None, data_dir, sources=("bfcl",)).to_dicts()
            if r["task"] == "tool_call" and len(json.loads(r["request"]).get("tools") or []) > 1
            and len(r["request"]) < 2500][:4]              # short requests: the grammar is the same, decoding 3x faster
    reqs = [json.loads(r["request"]) for r in rows]
    model, tok = load("smollm2-135m-instruct")
    prompts = [prompt_text(tok, render_messages(q)) for q in reqs]
    cons = [answer_constraint("tool_call", q, max_calls=1) for q in reqs]
    held = generate_scored(model, tok, prompts, MAX_NEW["tool_call"], 4, constraints=cons)
    free = generate_scored(model, tok, prompts, MAX_NEW["tool_call"], 4)
    finished = 0
    for q, (out, conf) in zip(reqs, held):
        calls = parse_tool_calls(out)
        if calls is None:                    # the grammar lets an answer stop only when complete: this one was cut
            assert len(tok(out, add_special_tokens=False)["input_ids"]) >= 0.9 * MAX_NEW["tool_call"], out
            continue
        finished += 1
        assert len(calls) == 1, out
        offered = {(t.get("function") or t)["name"]: _declared(t) for t in q["tools"]}
        for c in calls:
            assert c["name"] in offered, out
            props, required = offered[c["name"]]
            assert set(c["arguments"]) <= props and required <= set(c["arguments"]), out
        assert 0 < conf <= 1
    assert finished >= 3
    assert sum(parse_tool_calls(o) is not None for o, _ in free) < finished     # free, fewer of its answers parse


def test_a_weight_file_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    "A damaged cached join, a damaged packaged GGUF and a damaged embedder file: each refused, saying what to do."
    import hashlib
    import pytest
    from slm_agents import models
    from slm_agents.models import ModelSpec, ModelUnavailable, _gguf, embedder_path
    site = tmp_path / "site"
    for pkg, name, data in [("fake_parts", "data/part01.bin", b"GGUF-good"), ("fake_gguf", "w.gguf", b"GGUF-good"),
                            ("fake_embedder", "model/model.safetensors", b"weights")]:
        (site / pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (site / pkg / "__init__.py").write_text("")
        (site / pkg / name).write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("SLM_AGENTS_CACHE", str(tmp_path / "cache"))
    good = hashlib.sha256(b"GGUF-good").hexdigest()
    joined = ModelSpec("fake-joined", 0.0, "MIT", 0, True, gguf_file="fake.gguf", parts=("fake-parts",), sha256=good)
    shipped = ModelSpec("fake-shipped", 0.0, "MIT", 0, True, package="fake-gguf", gguf_file="w.gguf", sha256=good)
    monkeypatch.setitem(REGISTRY, joined.name, joined)
    monkeypatch.setitem(REGISTRY, shipped.name, shipped)
    pinned = {"model.safetensors": hashlib.sha256(b"weights").hexdigest()}
    path = join_parts(joined)
    assert path.read_bytes() == b"GGUF-good" and _gguf(shipped)[1] == "w.gguf"
    assert embedder_path("fake-embedder", pinned) == site / "fake_embedder" / "model"
    hashed = []
    real = models.file_sha256
    monkeypatch.setattr(models, "file_sha256", lambda p: hashed.append(p) or real(p))
    join_parts(joined), _gguf(shipped), embedder_path("fake-embedder", pinned)
    assert hashed == []                                   # unchanged files are not hashed again in one process
    path.write_bytes(b"GGUF-evil")                        # the same size, other bytes
    (site / "fake_gguf" / "w.gguf").write_bytes(b"GGUF-evil")
    (site / "fake_embedder" / "model" / "model.safetensors").write_bytes(b"weighty")
    with pytest.raises(ModelUnavailable, match="fake.gguf: SHA-256 .* is not the pinned .*delete it to join the parts again"):
        _gguf(REGISTRY["fake-joined"])
    with pytest.raises(ModelUnavailable, match="w.gguf: SHA-256 .*reinstall its package"):
        _gguf(REGISTRY["fake-shipped"])
    with pytest.raises(ModelUnavailable, match="model.safetensors: SHA-256 .*reinstall fake-embedder"):
        embedder_path("fake-embedder", pinned)
