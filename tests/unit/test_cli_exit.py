"""The `newsmon` command spares its process the interpreter's last garbage collection."""

from __future__ import annotations

import gc

import pytest

from newsmon.app.cli import main


def test_main_freezes_the_heap_when_the_command_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["newsmon", "--version"])
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main()
    assert gc.get_freeze_count() > before  # what the command made is frozen too
    assert capsys.readouterr().out.startswith("newsmon ")
