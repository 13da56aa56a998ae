"""One module per scenario of issue 7 (A-F); each `run(...)` returns a dict of figures."""
