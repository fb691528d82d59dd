"""The documentation site without Quarto: each notebook, with its outputs, as an HTML page, and an index.

`make docs` uses nbdev_docs (nbdev's Quarto site) when `quarto` is on PATH; the Quarto binary downloads from GitHub,
so where only PyPI is reachable this builds the same pages with nbconvert. Usage: python .ci/html_docs.py nbs _docs
"""
import html, json, sys
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter

def title(nb) -> str:
    "The notebook's first markdown heading."
    for c in nb.cells:
        if c.cell_type == "markdown" and c.source.lstrip().startswith("# "):
            return c.source.lstrip()[2:].splitlines()[0].strip()
    return ""

def readable(nb):
    "Code cells without nbdev's directive lines (`#| export` …), as nbdev's own pages show them."
    for c in nb.cells:
        if c.cell_type == "code":
            c.source = "\n".join(l for l in c.source.splitlines() if not l.startswith("#|")).lstrip("\n")
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.source.strip() or c.get("outputs")]
    return nb

def nav(pages: list[tuple[str, str]], here: str) -> str:
    links = [f'<a href="{f}"{" class=here" if f == here else ""}>{html.escape(t)}</a>' for f, t in pages]
    return ('<nav style="font:14px sans-serif;padding:8px 16px;border-bottom:1px solid #ddd;position:sticky;top:0;'
            'background:#fff;z-index:9">' + " · ".join(links) + "</nav>")

def build(src: Path, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    nbs = sorted(src.glob("[0-9]*.ipynb"))
    pages = [("index.html", "slm_agents")]
    parsed = {}
    for p in nbs:
        nb = nbformat.read(p, as_version=4)
        parsed[p] = nb
        pages.append((p.stem + ".html", title(nb) or p.stem))
    exporter = HTMLExporter(template_name="lab")
    index = nbformat.read(src / "index.ipynb", as_version=4)
    for p, nb in [(src / "index.ipynb", index), *parsed.items()]:
        name = "index.html" if p.name == "index.ipynb" else p.stem + ".html"
        body, _ = exporter.from_notebook_node(readable(nb))
        i = body.index(">", body.index("<body")) + 1          # right after the opening body tag
        body = body[:i] + nav(pages, name) + body[i:]
        (out / name).write_text(body)
    (out / "pages.json").write_text(json.dumps(pages, indent=1))
    print(f"{len(pages)} pages in {out}")

if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
