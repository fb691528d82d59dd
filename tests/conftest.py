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
