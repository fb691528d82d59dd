"""A log from an agent the pipeline has never seen: a shop assistant's review-sentiment labels and weather tool calls, as
OpenAI-style request/response JSONL without split tags, references or task labels. Made up here, so no third-party data."""
import json, random

WORDS = {"positive": ["love", "great", "excellent", "perfect", "fantastic"], "negative": ["hate", "broken", "awful", "useless", "terrible"],
         "neutral": ["okay", "average", "fine", "ordinary", "acceptable"]}
ITEMS = ["blender", "jacket", "lamp", "phone case", "kettle", "backpack", "desk chair", "toaster"]
CITIES = ["Oslo", "Lima", "Perth", "Kyoto", "Nairobi", "Quito", "Tallinn", "Porto", "Dakar", "Hanoi"]
TRIAGE = "You are the review triage step of a shop assistant. Classify the sentiment of the customer review. Answer with one word: positive, negative or neutral."
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                           "required": ["city"]}}}]

def other_agent_log(path, n=90, seed=0, topics=30):
    "A shop assistant's calls: review sentiment labels and weather tool calls (`n`), then `topics` questions routed to a team."
    rng, lines = random.Random(seed), []
    for i in range(n):
        if i % 2 == 0:
            label = rng.choice(list(WORDS)); text = f"The {rng.choice(ITEMS)} is {rng.choice(WORDS[label])}, order #{rng.randint(1000, 9999)}."
            req = {"model": "gpt-4o", "messages": [{"role": "system", "content": TRIAGE}, {"role": "user", "content": text}]}
            msg = {"role": "assistant", "content": label}
        else:
            city, unit = rng.choice(CITIES), rng.choice(["celsius", "fahrenheit"])
            req = {"model": "gpt-4o", "messages": [{"role": "system", "content": "You help travellers. Use the tools."},
                                                   {"role": "user", "content": f"How warm is it in {city} right now, in {unit}? (ticket {rng.randint(100, 999)})"}],
                   "tools": WEATHER}
            msg = {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function",
                   "function": {"name": "get_weather", "arguments": json.dumps({"city": city, "unit": unit})}}]}
        lines.append({"call_id": f"shop-{i:04d}", "ts": f"2026-05-01T10:{i // 60:02d}:{i % 60:02d}Z", "agent": "shop-bot", "request": req,
                      "response": {"object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}})
    lines += [_topic_call(rng, f"shop-{i:04d}", i) for i in range(n, n + topics)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path

TOPICS = {"shipping": ["Where is my parcel", "When will the delivery arrive", "Has my package shipped"],
          "returns": ["How do I send back", "Can I return", "I want a refund for"],
          "payment": ["Why was my card charged twice for", "Can I pay by invoice for", "My payment failed for"]}
ROUTE = "You are the question router of a shop assistant. Which team should answer? Answer with one word: shipping, returns or payment."

def _topic_call(rng, call_id, k):
    "A customer question routed to a team: a second closed label set with its own instruction."
    label = rng.choice(list(TOPICS))
    text = f"{rng.choice(TOPICS[label])} the {rng.choice(ITEMS)}? Order #{rng.randint(1000, 9999)}."
    req = {"model": "gpt-4o", "messages": [{"role": "system", "content": ROUTE}, {"role": "user", "content": text}]}
    msg = {"role": "assistant", "content": label}
    return {"call_id": call_id, "ts": f"2026-05-01T11:{k // 60 % 60:02d}:{k % 60:02d}Z", "agent": "shop-bot", "request": req,
            "response": {"object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}}

TINY = {"select.candidates": ["smollm2-135m-instruct"], "select.n_eval": 3, "select.shots": 1, "select.min_train": 10, "select.min_valid": 0.0, "finetune.steps": 6, "finetune.batch_size": 4,
        "finetune.max_length": 128, "finetune.n_eval": 2, "router.n_val": 8, "router.min_accepted": 2, "evaluate.n_test": 8,
        "select.min_frequent_share": 1.01}   # heads for the label sets only: the tool site's frequent calls go to a LoRA decoder


REVIEWS_DE = {"positive": ["großartig", "hervorragend", "wunderbar", "ausgezeichnet", "super"],
              "negative": ["kaputt", "furchtbar", "nutzlos", "schrecklich", "mangelhaft"],
              "neutral": ["in Ordnung", "durchschnittlich", "okay", "gewöhnlich", "annehmbar"]}
ITEMS_DE = ["Mixer", "Jacke", "Lampe", "Wasserkocher", "Rucksack", "Toaster", "Bürostuhl", "Handyhülle"]
TRANSLATE = "Translate the message for the customer into French. Answer with the translation only."
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

def _record(call_id, req, msg):
    return {"call_id": call_id, "ts": "2026-06-01T10:00:00Z", "agent": "shop-bot", "request": req,
            "response": {"object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}}

def next_round_log(path, kind: str, n: int = 80, seed: int = 1):
    "The next round of traffic: `german` reviews for the triage step (its inputs shifted) or a `translate` site never seen."
    rng, lines = random.Random(seed), []
    for i in range(n):
        if kind == "german":
            label = rng.choice(list(REVIEWS_DE))
            text = f"Der {rng.choice(ITEMS_DE)} ist {rng.choice(REVIEWS_DE[label])}, Bestellung {rng.randint(1000, 9999)}."
            req, msg = {"messages": [{"role": "system", "content": TRIAGE}, {"role": "user", "content": text}]}, label
        else:
            text = (f"Your {rng.choice(ITEMS)} will {rng.choice(['arrive', 'ship', 'be repaired', 'be refunded'])} on "
                    f"{rng.choice(DAYS)} before {rng.randint(8, 18)}:00.")
            req, msg = {"messages": [{"role": "system", "content": TRANSLATE}, {"role": "user", "content": text}]}, f"(fr) {text}"
        lines.append(_record(f"{kind}-{i:04d}", {"model": "gpt-4o"} | req, {"role": "assistant", "content": msg}))
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path
