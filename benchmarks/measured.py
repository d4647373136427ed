"""Run the `reconcile` CLI in this process and report its own peak memory on exit.

    python benchmarks/measured.py scan FEED_DIR   →  …, last stderr line "PEAK_RSS_KB=123456"
"""
import atexit
import resource
import sys

from reconcile.cli.main import cli

atexit.register(lambda: print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}",
                              file=sys.stderr, flush=True))
cli(prog_name="reconcile")
