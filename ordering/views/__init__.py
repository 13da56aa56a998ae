"""ordering pages, one module per part (see `ordering/urls.py`). Nothing is re-exported here: a
submodule importing a sibling imports this package, so a re-export would be an import cycle."""
