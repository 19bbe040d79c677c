"""Benchmarks of the real daemon against the in-repo fakes (never part of the test suite).

    .venv/bin/python -m bench.run              # every scenario; prints one table, writes JSON
    .venv/bin/python -m bench.run --help       # scenarios, sizes, the concurrency sweep

See docs/performance.md for what is measured, the results and the profile.
"""
