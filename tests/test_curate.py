import json, re
import polars as pl
import pytest
from slm_agents.curate import (Pseudonymiser, Span, curate, detect_pii, evaluate_pii, pseudonymise_calls, run_curate,
                               text_slots)
from slm_agents.schema import QUARANTINE_SCHEMA, Call, calls_frame, to_row, write_calls

def _resp(content=None, tool_calls=None, finish="stop"):
    msg = {"role": "assistant", "content": content}
    if tool_calls: msg["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "finish_reason": finish, "message": msg}]}

def test_pseudonyms_are_consistent_across_prompt_answer_arguments_and_reference():
    args = json.dumps({"passenger": "Maria Lopez", "phone": "415-555-0132", "seats": 2})
    c = Call("a", {"messages": [{"role": "user", "content": "Book a taxi for Maria Lopez, phone 415-555-0132."}]},
             _resp(tool_calls=[{"id": "1", "type": "function", "function": {"name": "book", "arguments": args}}]),
             reference=json.dumps([{"book": {"passenger": ["Maria Lopez"]}}]))
    [row], counts = pseudonymise_calls([to_row(c)], salt="s")
    user = json.loads(row["request"])["messages"][0]["content"]
    got = json.loads(json.loads(row["response"])["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert "Maria" not in user and "415-555-0132" not in user
    assert got["passenger"] in user and got["phone"] in user and got["seats"] == 2     # copyable, and still a number
    assert json.loads(row["reference"]) == [{"book": {"passenger": [got["passenger"]]}}]
    assert counts["PERSON"] >= 3 and counts["PHONE_NUMBER"] >= 2

def test_pii_in_earlier_tool_calls_is_pseudonymised_too():
    "An email, SSN and card number in an earlier turn's tool call (JSON and plain-text arguments) do not reach curated rows."
    secrets = {"email": "maria.lopez@example.com", "ssn": "078-05-1120", "card": "4111 1111 1111 1111"}
    earlier = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "lookup", "arguments": json.dumps({"email": secrets["email"], "ssn": secrets["ssn"]})}},
        {"id": "2", "type": "function", "function": {"name": "charge", "arguments": f"card {secrets['card']} for 20 EUR"}}]}
    msgs = [{"role": "user", "content": "Refund my last order."}, earlier,
            {"role": "tool", "tool_call_id": "1", "content": "found"}, {"role": "user", "content": "Thanks."}]
    [row], counts = pseudonymise_calls([to_row(Call("a", {"messages": msgs}, _resp("Done.")))])
    assert not any(v in row["request"] for v in secrets.values()), row["request"]
    assert counts["EMAIL_ADDRESS"] >= 1 and counts["CREDIT_CARD"] >= 1

def test_scope_record_draws_per_call_and_dataset_scope_shares_surrogates():
    rows = [to_row(Call(f"c{i}", {"messages": [{"role": "user", "content": f"Please email {n} about it."}]}, _resp("ok")))
            for i, n in enumerate(["John Smith", "Emma Brown", "John Smith"])]
    rec, _ = pseudonymise_calls(rows, scope="record", salt="s")
    ds, _ = pseudonymise_calls(rows, scope="dataset", salt="s")
    users = lambda rs: [json.loads(r["request"])["messages"][0]["content"] for r in rs]
    assert not any(n in u for u in users(rec) + users(ds) for n in ("John", "Smith", "Emma", "Brown"))
    assert users(ds)[0] == users(ds)[2] != users(ds)[1]            # one person, one surrogate across the log
    assert users(rec)[0] != users(rec)[2]                           # per call: the same person is not linkable
    assert pseudonymise_calls(rows, scope="record", salt="s")[0] == rec          # deterministic for a salt
    with pytest.raises(ValueError): pseudonymise_calls(rows, scope="global")

def test_nothing_is_lost_and_every_setaside_has_a_reason(tmp_path):
    calls = [Call("ok1", {"messages": [{"role": "user", "content": "Where is order 1234?"}]}, _resp("Shipped.")),
             Call("dup", {"messages": [{"role": "user", "content": "where is  order 777?"}]}, _resp("Shipped.")),
             Call("exact", {"messages": [{"role": "user", "content": "Where is order 1234?"}]}, _resp("Shipped.")),
             Call("chat", {"messages": [{"role": "user", "content": "hi!"}]}, _resp("Hello!"), node="smalltalk"),
             Call("long", {"messages": [{"role": "user", "content": "x" * 500}]}, _resp("y")),
             Call("trunc", {"messages": [{"role": "user", "content": "summarise"}]}, _resp("half", finish="length")),
             Call("empty", {"messages": [{"role": "user", "content": "q"}]}, _resp("  ")),
             Call("err", {"messages": [{"role": "user", "content": "q"}]}, None, status="error", error="500")]
    df = calls_frame(calls)
    cur, q, rep = curate(df, exclude_nodes=["smalltalk"], max_prompt_chars=300)
    assert len(cur) + len(q) == len(df)
    assert dict(zip(q["call_id"], q["reason"])) == {"dup": "near duplicate", "exact": "exact duplicate", "chat": "out of scope: node smalltalk",
        "long": "over-long prompt", "trunc": "truncated response", "empty": "empty response", "err": "failed call"}
    assert q.filter(pl.col("call_id") == "exact")["raw"][0] == "duplicate of ok1"
    cur2, q2, _ = curate(df, exclude_nodes=["smalltalk"], max_prompt_chars=300, near_dedupe=False)
    assert "dup" in cur2["call_id"].to_list()
    # as a stage: appended to the run's quarantine, replaced (not doubled) on a rerun
    write_calls(df, tmp_path / "calls.parquet")
    write_calls(pl.DataFrame([{"origin": "log.jsonl", "line": 3, "call_id": None, "reason": "malformed JSON: x",
                               "raw": '{"messages": "mail jane.doe@example.com'}], schema=q.schema), tmp_path / "quarantine.parquet")
    for _ in range(2): run_curate(tmp_path, exclude_nodes=["smalltalk"], max_prompt_chars=300)
    quarantine = pl.read_parquet(tmp_path / "quarantine.parquet")
    assert len(quarantine) == 1 + 7
    raw = quarantine["raw"][0]                                      # a bad record's text is pseudonymised too
    assert raw.startswith('{"messages": "mail ') and "@" in raw and "jane.doe@example.com" not in raw
    assert (tmp_path / "plots" / "curation.png").stat().st_size > 10_000

def test_configured_detector_beats_presidio_defaults_on_labelled_pii(data_dir):
    recs = json.load(open(f"{data_dir}/presidio_synth_pii/synth_dataset_v2.json"))[:300]
    texts = [r["full_text"] for r in recs]
    ours, base = evaluate_pii(recs, detect_pii(texts, "slm_agents")), evaluate_pii(recs, detect_pii(texts, "presidio_default"))
    assert ours["ALL"]["f2"] > base["ALL"]["f2"] + 0.1 and ours["ALL"]["recall"] > base["ALL"]["recall"]
    assert ours["ANY_PII"]["f2"] >= 0.83 and ours["ANY_PII"]["precision"] >= 0.9     # masked, whatever the type

def test_parallel_detection_gives_the_same_spans(data_dir):
    texts = [r["full_text"] for r in json.load(open(f"{data_dir}/presidio_synth_pii/synth_dataset_v2.json"))[:120]]
    assert detect_pii(texts, n_jobs=2, chunk=50) == detect_pii(texts)

def test_long_calls_are_kept_by_default():
    "Length alone sets nothing aside: a 60,000-character agent turn stays in the curated log."
    from slm_agents.schema import Call, calls_frame
    turns = [{"role": "user", "content": "Check the booking status for the trip. " * 40}] * 40
    long = Call("long", {"messages": turns}, {"choices": [{"message": {"role": "assistant", "content": "Booked."}}]})
    short = Call("short", {"messages": [{"role": "user", "content": "Hi"}]},
                 {"choices": [{"message": {"role": "assistant", "content": "Hello."}}]})
    cur, q, rep = curate(calls_frame([long, short]))
    assert len(json.dumps(long.request)) > 60_000
    assert set(cur["call_id"]) == {"long", "short"} and len(q) == 0

CANARIES = {"name": "Maria Lopez", "email": "maria.lopez@example.com", "ssn": "078-05-1120", "card": "4111 1111 1111 1111",
            "phone": "415-555-0132"}
PLAIN = [*CANARIES.values(), "Lopez", "4111111111111111", "78051120", "4155550132"]
LINE = "Maria Lopez, maria.lopez@example.com, SSN 078-05-1120, card 4111 1111 1111 1111, phone 415-555-0132"

def _canary_call(cid="k"):
    "A call with the canaries in every kind of slot."
    args = json.dumps({"holder": "Maria Lopez", "email": CANARIES["email"], "card": 4111111111111111, "ssn": 78051120,
                       "phone": 4155550132, "note": LINE})
    tool = {"type": "function", "function": {"name": "charge", "description": f"Charges the card of {LINE}.",
            "parameters": {"type": "object", "properties": {"card": {"type": "string", "description": f"e.g. {LINE}",
                                                                     "enum": ["debit", "credit"]}}}}}
    msgs = [{"role": "system", "content": f"You assist {LINE}."},
            {"role": "user", "content": f"I am {LINE}. Refund me."},
            {"role": "assistant", "content": f"Checking for {LINE}.", "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "charge", "arguments": args}},
                {"id": "2", "type": "function", "function": {"name": "note", "arguments": f"note: {LINE}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": f"charged {LINE}"}]
    req = {"messages": msgs, "tools": [tool], "response_format": {"type": "json_schema", "json_schema": {
        "name": "r", "description": f"For {LINE}", "schema": {"type": "object"}}}}
    return Call(cid, req, _resp(f"Refunded {LINE}.", tool_calls=[{"id": "3", "type": "function",
                "function": {"name": "charge", "arguments": args}}]), reference=json.dumps({"card": 4111111111111111, "who": LINE}))

def test_canaries_leave_no_trace_in_curated_or_quarantined_rows(tmp_path):
    "Canary PII planted in every kind of slot (system prompt, user and assistant turns, JSON arguments with strings and numbers, "
    "plain-text arguments, tool and response-format descriptions, tool results, the answer, the reference) is all replaced."
    calls = [_canary_call("k"), _canary_call("dup")]       # the second is a duplicate: it goes to the quarantine
    write_calls(calls_frame(calls), tmp_path / "calls.parquet")
    bad = [{"origin": "log.jsonl", "line": 1, "call_id": None, "reason": "malformed JSON", "raw": LINE}]
    write_calls(pl.DataFrame(bad, schema=QUARANTINE_SCHEMA), tmp_path / "quarantine.parquet")
    run_curate(tmp_path)
    cur, q = pl.read_parquet(tmp_path / "curated.parquet"), pl.read_parquet(tmp_path / "quarantine.parquet")
    assert len(cur) == 1 and len(q) == 2
    text = json.dumps(cur.to_dicts() + q.to_dicts(), ensure_ascii=False)
    assert [v for v in PLAIN if v in text] == []
    req = json.loads(cur["request"][0])
    assert req["tools"][0]["function"]["parameters"]["properties"]["card"]["enum"] == ["debit", "credit"]   # the schema holds
    assert req["tools"][0]["function"]["name"] == "charge"

def test_system_prompts_are_pseudonymised_by_default():
    c = Call("s", {"messages": [{"role": "system", "content": "You help John Smith (john.smith@example.com)."},
                                {"role": "user", "content": "pay it"}]}, _resp("Done."))
    [row], _ = pseudonymise_calls([to_row(c)], salt="s")
    assert "John Smith" not in row["request"] and "john.smith@example.com" not in row["request"]
    [kept], _ = pseudonymise_calls([to_row(c)], skip_roles=("system",), salt="s")
    assert "John Smith" in kept["request"]                          # still possible on request

def test_numeric_arguments_are_offered_and_written_back_as_strings():
    args = json.dumps({"card": 4111111111111111, "ssn": 78051120, "count": 3, "ok": True})
    c = Call("n", {"messages": [{"role": "user", "content": "pay"}]},
             _resp(tool_calls=[{"id": "1", "type": "function", "function": {"name": "pay", "arguments": args}}]))
    assert ("response", "choices", 0, "message", "tool_calls", 0, "args", "ssn") in dict(text_slots(
        {"request": c.request, "response": c.response}))
    [row], counts = pseudonymise_calls([to_row(c)], salt="s")
    got = json.loads(json.loads(row["response"])["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert isinstance(got["card"], str) and got["card"] != "4111111111111111" and len(got["card"]) == 16
    assert isinstance(got["ssn"], str) and got["ssn"] != "78051120"
    assert (got["count"], got["ok"]) == (3, True)                   # numbers that are no PII stay numbers
    assert counts["CREDIT_CARD"] == 1 and counts["US_SSN"] == 1

def test_tool_and_response_format_descriptions_are_offered_names_and_enums_are_not():
    tools = [{"type": "function", "function": {"name": "pay", "description": "Pays for Alice Cooper at alice@example.net",
              "parameters": {"type": "object", "properties": {"who": {"type": "string", "enum": ["Alice Cooper"],
                                                                      "description": "Payee, e.g. Alice Cooper"}}}}}]
    call = {"request": {"messages": [], "tools": tools, "response_format": {"json_schema": {"description": "For Bob Dylan"}}},
            "response": None}
    assert [t for _, t in text_slots(call)] == ["Pays for Alice Cooper at alice@example.net", "Payee, e.g. Alice Cooper",
                                                "For Bob Dylan"]

def test_surrogates_are_realistic_and_the_same_within_a_call():
    c = Call("r", {"messages": [{"role": "user", "content": "Write to Maria Lopez (maria.lopez@example.com), who lives in Lugano."}]},
             _resp(tool_calls=[{"id": "1", "type": "function", "function": {"name": "mail", "arguments": json.dumps(
                 {"to": "maria.lopez@example.com", "name": "Maria Lopez", "city": "Lugano"})}}]))
    [row], _ = pseudonymise_calls([to_row(c)], salt="s")
    user = json.loads(row["request"])["messages"][0]["content"]
    got = json.loads(json.loads(row["response"])["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert "<" not in user and "Maria" not in user and "Lugano" not in user
    assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", got["to"]) and len(got["name"].split()) == 2
    assert all(v in user for v in got.values())                     # the answer copies what the question says
    assert len({got["to"], got["name"], got["city"]}) == 3

def test_fewer_false_positives_on_pii_free_text():
    "Durations and sizes are no ages, acronyms no places or people."
    texts = ["How many cars are older than 30 years?", "We train a GAN on images of size 32.",
             "Give the month as MM and the day as DD.", "Use ADAM with a threshold of 10."]
    assert detect_pii(texts) == [[]] * 4
    assert [s.type for s in detect_pii(["My son is 7 years old."])[0]] == ["AGE"]     # a real age still is one
