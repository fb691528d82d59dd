import json
import polars as pl
import pytest
from slm_agents.curate import (Pseudonymiser, Span, curate, detect_pii, evaluate_pii, pseudonymise_calls, run_curate,
                               text_slots)
from slm_agents.schema import Call, calls_frame, to_row, write_calls

def _resp(content=None, tool_calls=None, finish="stop"):
    msg = {"role": "assistant", "content": content}
    if tool_calls: msg["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "finish_reason": finish, "message": msg}]}

def test_pseudonyms_are_consistent_across_prompt_answer_arguments_and_reference():
    args = json.dumps({"passenger": "Maria Lopez", "phone": "415-555-0132", "seats": 2})
    c = Call("a", {"messages": [{"role": "user", "content": "Book a taxi for Maria Lopez, phone 415-555-0132."}]},
             _resp(tool_calls=[{"id": "1", "type": "function", "function": {"name": "book", "arguments": args}}]),
             reference=json.dumps([{"book": {"passenger": ["Maria Lopez"]}}]))
    [row], counts = pseudonymise_calls([to_row(c)])
    user = json.loads(row["request"])["messages"][0]["content"]
    got = json.loads(json.loads(row["response"])["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert "Maria" not in user and "<PERSON_1>" in user and "<PHONE_NUMBER_1>" in user
    assert got == {"passenger": "<PERSON_1>", "phone": "<PHONE_NUMBER_1>", "seats": 2}
    assert json.loads(row["reference"]) == [{"book": {"passenger": ["<PERSON_1>"]}}]
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

def test_scope_record_restarts_numbering_and_dataset_scope_shares_it():
    rows = [to_row(Call(f"c{i}", {"messages": [{"role": "user", "content": f"Please email {n} about it."}]}, _resp("ok")))
            for i, n in enumerate(["John Smith", "Emma Brown", "John Smith"])]
    rec, _ = pseudonymise_calls(rows, scope="record")
    ds, _ = pseudonymise_calls(rows, scope="dataset")
    users = lambda rs: [json.loads(r["request"])["messages"][0]["content"] for r in rs]
    assert users(rec) == ["Please email <PERSON_1> about it."] * 3
    assert users(ds) == ["Please email <PERSON_1> about it.", "Please email <PERSON_2> about it.", "Please email <PERSON_1> about it."]
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
    assert quarantine["raw"][0] == '{"messages": "mail <EMAIL_ADDRESS_1>'          # a bad record's text is pseudonymised too
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
