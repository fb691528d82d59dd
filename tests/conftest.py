import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="session")
def data_dir():
    d = os.environ.get("SLM_AGENTS_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")
    if not Path(d, "banking77").is_dir(): pytest.fail(f"public datasets not found at {d}: set SLM_AGENTS_DATA_DIR")
    os.environ["SLM_AGENTS_DATA_DIR"] = d
    return d

@pytest.hookimpl(tryfirst=True)                 # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`--dist loadgroup`): a module's tests share a worker, so do all tests on the shop run; each
    notebook goes where there is room."""
    for item in items:
        if item.module.__name__ == "test_notebooks":
            continue
        group = "shop" if "shop_run" in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))

@pytest.fixture(scope="session")
def shop_run(tmp_path_factory):
    "The whole pipeline on the made-up shop-assistant log, tiny profile, public datasets out of reach: (log, run dir, results)."
    from shoplog import TINY, other_agent_log
    from slm_agents.pipeline import run
    d = tmp_path_factory.mktemp("shop")
    logs = other_agent_log(d / "shop.jsonl")
    with pytest.MonkeyPatch.context() as mp:            # a user's log needs none of the public datasets
        mp.delenv("SLM_AGENTS_DATA_DIR", raising=False)
        return logs, d / "run", run(logs, d / "run", params=TINY)
