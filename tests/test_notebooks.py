"""Every notebook, run as `nbdev_test` runs it (nbdev's `test_nb`: cells flagged `notest`/`slow` or `#| eval: false`
skipped), one test per notebook, so pytest's workers share them with the other tests."""
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(p for p in (Path(__file__).resolve().parent.parent / "nbs").glob("*.ipynb") if not p.name.startswith("_"))

@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_notebook_runs(nb):
    cfg = get_config()
    ok, _ = run_notebook(nb, skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
    assert ok, f"{nb.name} failed: its traceback is above"
