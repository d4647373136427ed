"""Local engine: the scan in this process.

A feed of at most :func:`partition_members` members runs as one (:func:`reconcile.pipeline.evaluate`,
looked up at call time: tests may replace it). A larger one runs the Dask engine's partition plan
(:func:`reconcile.engines.plan.evaluate_plan`) one partition after the other here, so the rules'
working set grows with the largest partition instead of the feed; the findings are the same.

Run by :func:`reconcile.service.scan` (:class:`LocalEngine`), a large feed is also *read* in
bounded memory: the loader hands each file's frame to :meth:`LocalEngine.on_file` as soon as it
is complete, and each member-keyed file (members, oqs, benefit history, card status) is written
to its partitions' Arrow IPC files there and then; the feed keeps only the members' keys
(insurer_number, member_id: what the scan's persist step reads) and an empty frame of the same
columns for the others. So at most one member-keyed file is in memory whole, beside the residents
(which every partition reads whole), instead of the whole feed (5M members: 8.3 GiB of frames).
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

import pandas as pd

from reconcile import pipeline

#: Members per partition above which the local engine splits a feed (``RECONCILE_PARTITION_MEMBERS``).
#: A split costs CPU — every partition's resolution blocks and compares its members against all
#: the residents, although their side is prepared once (``matchers.prepare.shared_residents``;
#: 1M x4 in four partitions: rules 38 s against 25 s whole) — and at 1M it saved little memory
#: (peak 4.74 GB split in two against 4.87 GB whole: a 1M feed's frames and the ingest already
#: hold 2.7 GB): 1M runs whole, a 5M feed (which would not fit this machine's memory whole) runs
#: one insurer at a time.
PARTITION_MEMBERS = 1_500_000

#: The members' columns the feed keeps once a streamed scan wrote the members to their partitions.
MEMBER_KEYS = ["insurer_number", "member_id"]

last_run: dict = {}


def partition_members() -> int:
    value = os.environ.get("RECONCILE_PARTITION_MEMBERS")
    return int(value) if value else PARTITION_MEMBERS


def partitions_for(members: pd.DataFrame) -> int:
    """How many partitions the local engine splits ``members`` into (1: the feed runs whole)."""
    partitions = math.ceil(len(members) / max(1, partition_members()))
    if partitions <= 1 or members["insurer_number"].nunique() <= 1:
        return 1
    return partitions


def evaluate(frames, *, release_frames: bool = False, early=None, **kwargs) -> pipeline.Evaluation:
    """The scan of ``frames`` in this process (same signature and result as :func:`pipeline.evaluate`).

    A partitioned scan writes each partition's member-keyed frames to Arrow IPC files under a
    temporary folder and reads one partition back at a time; ``release_frames=True`` (the scan
    command) lets it empty ``frames`` once they are written, so the feed's copies are freed.
    ``early``: the partitions :class:`LocalEngine` wrote while the feed was read."""
    from reconcile.engines.plan import InlineRunner, evaluate_plan

    if early is None:
        partitions = partitions_for(frames["members"])
        if partitions <= 1:
            last_run.clear()
            return pipeline.evaluate(frames, **kwargs)
        runner = InlineRunner(partitions, spill=True)
    else:
        runner = early.runner
    evaluation, run = evaluate_plan(runner, frames, release_frames=release_frames, early=early, **kwargs)
    last_run.clear()
    last_run.update(run)
    return evaluation


class LocalEngine:
    """The local engine as :func:`reconcile.service.scan` drives it: :meth:`on_file` writes a
    large feed's member-keyed files to their partitions while the feed is read; :meth:`evaluate`
    runs them (or, for a feed that fits, :func:`evaluate`)."""

    def __init__(self) -> None:
        self._early = None

    def expect(self, detector_settings: Mapping[str, Any] | None) -> None:
        """The hook's protocol (:func:`reconcile.service.scan` names the detector settings first):
        the partitions do not depend on them."""

    def on_file(self, kind: str, frame: pd.DataFrame | None) -> pd.DataFrame | None:
        """``load_feed``'s hook: the frame the feed keeps for file ``kind``."""
        from matchers.memory import release_memory
        from reconcile.engines import partition as part
        from reconcile.engines.plan import EarlyStart, InlineRunner, layout, write_partitions

        if kind == "members":
            self.close()
            partitions = 1 if frame is None else partitions_for(frame)
            if partitions <= 1:
                return frame
            runner = InlineRunner(partitions, spill=True)
            insurers, plans = layout(frame, partitions)
            handles = write_partitions(runner.files, kind, frame, insurers, plans)
            kept = frame[MEMBER_KEYS].copy()
            self._early = EarlyStart(kept, None, {}, insurers, plans, None, handles,
                                     [None] * len(plans), [None] * len(plans))
            self._early.runner = runner
        elif frame is not None and self._early is not None and kind in part.MEMBER_FRAMES:
            early = self._early
            kept = frame.iloc[:0].copy()
            early.written[kind] = (kept, write_partitions(early.runner.files, kind, frame, early.insurers, early.plans))
        else:
            return frame
        del frame
        release_memory()          # the copies taken for the files, before the next file is read
        return kept

    def evaluate(self, frames, **kwargs) -> pipeline.Evaluation:
        early, self._early = self._early, None
        if early is not None:
            if frames.get("members") is not early.members_frame:
                early.runner.close()
                raise RuntimeError("the local engine's partitions were written for another feed's members")
            early.residents = frames.get("residents")
            early.residents_frame = early.residents
        return evaluate(frames, early=early, **kwargs)

    def close(self) -> None:
        """Remove the partitions' files of a scan that then did not run (a refused feed)."""
        early, self._early = self._early, None
        if early is not None:
            early.runner.close()
