"""The `newsmon` command spares its process the interpreter's last garbage collection."""

from __future__ import annotations

import gc

import pytest

from newsmon.app.cli import main


def test_main_freezes_the_heap_when_the_command_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["newsmon", "--version"])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit):
            main()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert capsys.readouterr().out.startswith("newsmon ")
