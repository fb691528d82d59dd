"""Run notebooks in place as `nbdev_test` does (`#| eval: false` cells skipped) and keep their outputs.

Usage: python .ci/run_notebooks.py nbs/00_schema.ipynb ...   (`make outputs` runs every notebook, then scrubs them)
"""
import os, re, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

NO_EVAL = re.compile(r"^#\|\s*eval:\s*false\s*$", re.M | re.I)

def _skip(cell) -> bool:
    "Cells nbdev_test does not run: markdown, `#| eval: false`."
    return cell.cell_type != "code" or bool(NO_EVAL.search(cell.source))

def run(path: Path):
    nb = read_nb(path)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        CaptureShell(path).run_all(nb, exc_stop=True, preproc=_skip)
    finally:
        os.chdir(here)
    write_nb(nb, path)

if __name__ == "__main__":
    os.environ["IN_TEST"] = "1"
    for p in sys.argv[1:]:
        t0 = time.time()
        run(Path(p).resolve())
        print(f"{p}: {time.time() - t0:.0f} s", flush=True)
