"""Make executed notebooks fit to commit: machine paths in outputs become placeholders, widget and timing metadata go.

Usage: python .ci/scrub_outputs.py nbs/*.ipynb  (after `make outputs` ran them in place)
"""
import json, os, re, sys, tempfile
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
HOME = os.path.expanduser("~")
TMP = re.escape(tempfile.gettempdir())
RULES = [(re.compile(TMP + r"/[^\s'\"<>),\]]*"), "<tmp>"),      # temporary folders and what is in them
         (re.compile(re.escape(ROOT)), "<repo>"),
         (re.compile(re.escape(str(Path(ROOT).parent / "shared"))), "<shared>"),
         (re.compile(re.escape(HOME) + r"(?=/)"), "~")]
SECRET = re.compile(r"(sk-[A-Za-z0-9]{16,}|-----BEGIN [A-Z ]*PRIVATE KEY-----)")

def scrub_text(s: str) -> str:
    for rx, to in RULES: s = rx.sub(to, s)
    return s

def scrub(o):
    if isinstance(o, str): return scrub_text(o)
    if isinstance(o, list): return [scrub(x) for x in o]
    if isinstance(o, dict): return {k: scrub(v) for k, v in o.items() if k != "application/vnd.jupyter.widget-view+json"}
    return o

def main(paths):
    bad = []
    for p in paths:
        nb = json.loads(Path(p).read_text())
        for c in nb["cells"]:
            if c["cell_type"] != "code": continue
            c["outputs"] = [scrub(o) for o in c.get("outputs", [])]
            c["outputs"] = [o for o in c["outputs"] if o.get("output_type") != "display_data" or o.get("data")]
            c.get("metadata", {}).pop("execution", None)
            if SECRET.search(json.dumps(c["outputs"])): bad.append(p)
        nb.get("metadata", {}).pop("widgets", None)
        Path(p).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    if bad: sys.exit(f"secret-looking text in outputs of: {sorted(set(bad))}")

if __name__ == "__main__": main(sys.argv[1:])
