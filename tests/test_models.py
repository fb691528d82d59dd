"""Qwen2.5-Coder-0.5B-Instruct from the six PyPI packages it is split over: joined, checked, loaded, answering a tool call."""
import json

from slm_agents.models import REGISTRY, generate, join_parts, load, prompt_text, render_messages
from slm_agents.select import parse_tool_calls

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
    from slm_agents.select import MAX_NEW
    rows = [r for r in agent_mix(None, data_dir).to_dicts()
            if r["task"] == "tool_call" and len(json.loads(r["request"]).get("tools") or []) > 1][:8]
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
    assert finished >= 6
    assert sum(parse_tool_calls(o) is not None for o, _ in free) < finished     # free, fewer of its answers parse
