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
