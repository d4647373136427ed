"""Local engine: the scan in this process.

A feed of at most :func:`partition_members` members runs as one (:func:`reconcile.pipeline.evaluate`,
looked up at call time: tests may replace it). A larger one runs the Dask engine's partition plan
(:func:`reconcile.engines.plan.evaluate_plan`) one partition after the other here, so the rules'
working set grows with the largest partition instead of the feed; the findings are the same.
"""
from __future__ import annotations

import math
import os

from reconcile import pipeline

#: Members per partition above which the local engine splits a feed (``RECONCILE_PARTITION_MEMBERS``).
#: Each partition prepares the whole residents again, so a split costs CPU (100k x4 in two
#: partitions: +40% rules CPU) and at 1M it saved little memory (peak 4.74 GB split in two
#: against 4.87 GB whole: a 1M feed's frames and the ingest already hold 2.7 GB): 1M runs whole,
#: a 5M feed (which would not fit this machine's memory whole) runs one insurer at a time.
PARTITION_MEMBERS = 1_500_000

last_run: dict = {}


def partition_members() -> int:
    value = os.environ.get("RECONCILE_PARTITION_MEMBERS")
    return int(value) if value else PARTITION_MEMBERS


def evaluate(frames, *, release_frames: bool = False, **kwargs) -> pipeline.Evaluation:
    """The scan of ``frames`` in this process (same signature and result as :func:`pipeline.evaluate`).

    A partitioned scan writes each partition's member-keyed frames to Arrow IPC files under a
    temporary folder and reads one partition back at a time; ``release_frames=True`` (the scan
    command) lets it empty ``frames`` once they are written, so the feed's copies are freed."""
    members = frames["members"]
    per_partition = max(1, partition_members())
    partitions = math.ceil(len(members) / per_partition)
    if partitions <= 1 or members["insurer_number"].nunique() <= 1:
        last_run.clear()
        return pipeline.evaluate(frames, **kwargs)
    from reconcile.engines.plan import InlineRunner, evaluate_plan

    del members
    evaluation, run = evaluate_plan(InlineRunner(partitions, spill=True), frames,
                                    release_frames=release_frames, **kwargs)
    last_run.clear()
    last_run.update(run)
    return evaluation
