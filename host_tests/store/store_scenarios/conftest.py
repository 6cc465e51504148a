"""CPython runs of the store cases: emitter_micro/store.py imported as `store`, alone (not through the
emitter_micro package), with the shim's `micropython` module; each case's files under its tmp_path."""
import importlib.util
import sys
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parents[3] / "emitter_micro" / "store.py"
if "store" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("store", _SRC)
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["store"] = _mod
    _spec.loader.exec_module(_mod)


@pytest.fixture(autouse=True)
def _store_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("STORE_TMP", str(tmp_path))
    monkeypatch.delenv("STORE_FS", raising=False)
