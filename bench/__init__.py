"""`python -m bench`: the performance benchmark (issue 7). See docs/performance.md."""
