"""The `newsmon` commands, one module per command group; `newsmon.app.cli` declares the tree."""
