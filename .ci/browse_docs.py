"""Open every page of the documentation site in headless Chromium, as a reader would, and say what is broken.

For each page: its title and first heading, how many tables and images it shows, images that did not load, links to
local pages or files that do not exist, script errors, and requests that failed (local ones are errors; outside ones,
such as MathJax from a CDN, are counted, since a machine without internet cannot load them). Screenshots of the pages
named in `--shots` go to `--out`. Exit status 1 when anything local is broken.

Usage: python .ci/browse_docs.py _docs [--chromium /usr/bin/chromium] [--out _docs/browser] [--shots index 07_router]
"""
import argparse, json, sys
from pathlib import Path
from urllib.parse import unquote, urlparse
from playwright.sync_api import sync_playwright

FACTS = """() => ({
    title: document.title,
    h1: (document.querySelector('h1') || {}).textContent || '',
    tables: document.querySelectorAll('table').length,
    images: document.images.length,
    broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    width: document.documentElement.scrollWidth,
})"""


def missing_links(page_file: Path, hrefs: list[str]) -> list[str]:
    "Links to local files (no scheme, not a fragment) that do not exist beside the page."
    out = []
    for h in hrefs:
        u = urlparse(h)
        if u.scheme or u.netloc or not u.path:
            continue
        if not (page_file.parent / unquote(u.path)).exists():
            out.append(h)
    return sorted(set(out))


def visit(browser, page_file: Path, shot: Path | None) -> dict:
    "What one page shows and what is broken on it."
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, local_failed, outside_failed = [], [], []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    page.on("console", lambda m: errors.append(m.text[:200]) if m.type == "error" else None)

    def failed(req):
        (local_failed if req.url.startswith("file:") else outside_failed).append(req.url[:120])
    page.on("requestfailed", failed)
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    facts = page.evaluate(FACTS)
    if shot is not None:
        page.screenshot(path=str(shot), full_page=False)
    page.close()
    outside = [e for e in errors if "net::ERR" in e]          # a CDN script that could not load, counted below
    return {"page": page_file.name, "title": facts["title"], "h1": facts["h1"].strip().rstrip("¶").strip(),
            "tables": facts["tables"], "images": facts["images"], "broken_images": facts["broken"],
            "missing_links": missing_links(page_file, facts["links"]), "script_errors": [e for e in errors
            if e not in outside], "local_failed": local_failed, "outside_failed": len(outside_failed),
            "page_width": facts["width"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--shots", nargs="*", default=["index"])
    a = ap.parse_args()
    out = a.out or a.site / "browser"
    out.mkdir(parents=True, exist_ok=True)
    pages = sorted(a.site.glob("*.html"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        seen = [visit(browser, f, out / f"{f.stem}.png" if f.stem in a.shots else None) for f in pages]
        version = browser.version
        browser.close()
    bad = [s for s in seen if s["broken_images"] or s["missing_links"] or s["script_errors"] or s["local_failed"]]
    report = {"chromium": version, "pages": len(seen), "broken_pages": len(bad), "seen": seen}
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    for s in seen:
        flag = "BROKEN" if s in bad else "ok"
        print(f"{flag:6} {s['page']:24} tables {s['tables']:3}  images {s['images']:3}  "
              f"outside requests failed {s['outside_failed']}  {s['h1'][:60]}")
    print(f"Chromium {version}: {len(seen)} pages, {len(bad)} with something local broken; {out / 'report.json'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
