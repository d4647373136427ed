"""分割計画 / the partition plan both engines run: the Dask engine on workers, the local engine
in its own process for feeds too large to hold every rule's working set at once.

1. members, oqs, benefit history and card status split by insurer (insurers binned into
   partitions of about equal member count); the residents whole; every rule runs per
   partition, FEED_DRIFT and the feed statistics last (see :mod:`reconcile.engines.partition`);
2. the QUAL_OVERLAP groups (last four + birth date + sex) and number groups (keyed hash) that
   hold members of two insurers are gathered from every partition and evaluated together;
   their findings replace the partitions' for those members;
3. the wrong holders those number groups name are dropped from their partition's
   MISLINK_SUSPECTED findings (the rule runs again only where one was a kept member's
   household-swap partner).

A runner says where tasks run: ``put(obj)`` makes a value available to tasks, ``frames(fn)``
hands a partition's frames (built by ``fn``) to its tasks, ``map(func, arglists)`` runs them
(a cluster's runner also has ``submit``/``gather``: each partition starts once handed over).
Frames go through Arrow IPC files (:mod:`reconcile.engines.spill`) except to a remote cluster.
:class:`InlineRunner` runs them one after the other in this process and builds each
partition's frames only when the partition runs, so one partition's copy is alive at a time.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from reconcile.engines import partition as part
from reconcile.engines.spill import SpilledFrame

log = logging.getLogger("reconcile")


class InlineRunner:
    """Tasks in this process, one after the other (the local engine's partitioned scan).

    ``spill=True``: each partition's member-keyed frames are written to Arrow IPC files
    (:mod:`reconcile.engines.spill`) when the plan hands them over and read back when the
    partition runs, so the feed's own frames can be released (``evaluate_plan(release_frames=True)``)
    and only one partition's rows are in memory at a time. Without it, a partition's frames are
    sliced from the feed's when it runs."""

    kind = "inline"

    def __init__(self, partitions: int, spill: bool = False):
        self.workers = max(1, int(partitions))
        self.files = None
        if spill:
            from reconcile.engines.spill import FrameFiles
            self.files = FrameFiles()
        self.ships_copies = spill

    def put(self, obj: Any, broadcast: bool = False) -> Any:
        return obj

    def frames(self, build: Callable[[], dict]) -> Any:
        if self.files is not None:
            return self.files.write(build())
        return build                      # evaluate_partition / mislink_again call it

    def map(self, func: Callable, arglists: list[tuple]) -> list:
        from matchers.memory import release_memory

        out = []
        for args in arglists:
            out.append(func(*args))
            release_memory()            # the partition's working set, before the next one
        return out

    def worker_memory(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        if self.files is not None:
            self.files.close()


class EarlyStart:
    """What the Dask engine started while the feed was still being read (see
    :meth:`reconcile.engines.dask.DaskEngine.on_file`): from the members and residents frames,
    the partition layout, their files and each partition's resolution (a future on the worker
    that will run the partition). Valid only for those very frames and detector settings."""

    def __init__(self, members: pd.DataFrame, residents: pd.DataFrame, settings: Mapping[str, Any],
                 insurers: list[str], plans: list, residents_handle: Any, member_handles: list,
                 resolutions: list, workers: list):
        self.members_frame, self.residents_frame, self.settings = members, residents, dict(settings)
        self.insurers, self.plans, self.residents = insurers, plans, residents_handle
        self.members, self.resolutions, self.workers = member_handles, resolutions, workers
        # frame name → (the frame, its partitions' handles): files written as they were read
        self.written: dict[str, tuple[pd.DataFrame, list]] = {}

    def fits(self, frames: Mapping[str, pd.DataFrame | None], settings: Mapping[str, Any] | None) -> bool:
        return (frames.get("members") is self.members_frame and frames.get("residents") is self.residents_frame
                and dict(settings or {}) == self.settings)


def bins(groups: Mapping[str, np.ndarray], n: int) -> list[list[str]]:
    """Insurers in at most ``n`` partitions of about equal member count (largest first into the
    lightest): each partition prepares the whole residents again, so more partitions than
    needed only repeats that work."""
    loads = [0] * min(n, len(groups))
    out: list[list[str]] = [[] for _ in loads]
    for name in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        lightest = loads.index(min(loads))
        out[lightest].append(name)
        loads[lightest] += len(groups[name])
    return [sorted(b) for b in out if b]


def layout(members: pd.DataFrame, n: int) -> tuple[list[str], list[tuple[list[str], np.ndarray, np.ndarray]]]:
    """``(insurers, plans)``: the feed's insurers and, per partition, ``(insurers of the
    partition, its members in a cross-insurer QUAL_OVERLAP group, … in a cross-insurer number
    group)`` — a function of the members frame alone."""
    groups = members.groupby(members["insurer_number"].astype("string"), sort=True).indices
    insurers = sorted(groups)
    overlap_mask, number_mask = part.cross_masks(members)
    plans = []
    for bin_ in bins(groups, max(1, n)):
        rows = np.sort(np.concatenate([np.asarray(groups[i], dtype=np.int64) for i in bin_]))
        plans.append((bin_, overlap_mask[rows], number_mask[rows]))
    return insurers, plans


def frames_of(frames: Mapping[str, pd.DataFrame | None], bin_: list[str], insurers: list[str],
              only: tuple[str, ...] = part.MEMBER_FRAMES) -> dict:
    """The rows of the insurers ``bin_`` in every member-keyed frame (rows of an insurer
    without members go with the first insurer's partition, so no row is lost); ``only``: just
    these member-keyed frames (and no other)."""
    out: dict[str, pd.DataFrame | None] = {}
    known = set(insurers)
    for name in only:
        frame = frames.get(name)
        if frame is None:
            out[name] = None
            continue
        values = frame["insurer_number"].astype("string")
        mask = values.isin(bin_).fillna(False).to_numpy(bool).copy()
        if insurers[0] in bin_:
            mask = mask | ~values.isin(known).fillna(False).to_numpy(bool)
        rows = np.flatnonzero(mask)
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            # One insurer's rows usually sit together in the file: a slice shares the feed's
            # buffers (copy-on-write) instead of copying them.
            out[name] = frame.iloc[rows[0]:rows[-1] + 1].reset_index(drop=True)
        else:
            out[name] = frame.take(rows).reset_index(drop=True)
    for name, frame in frames.items():
        if name not in out and name != "residents" and only == part.MEMBER_FRAMES:
            out[name] = frame
    return out


def write_partitions(files, kind: str, frame: pd.DataFrame, insurers: list[str], plans: list) -> list:
    """Frame ``kind`` written to ``files`` once per partition of ``plans`` (its insurers' rows,
    :func:`frames_of`): the handles, in partition order. Refuses a full individual number."""
    part.check_no_full_numbers({kind: frame})
    return [files.write(frames_of({kind: frame}, bin_, insurers, only=(kind,))) for bin_, _, _ in plans]


def _keyset(frame: pd.DataFrame | None) -> set:
    if frame is None or len(frame) == 0:
        return set()
    return set(zip(frame["insurer_number"].astype(str), frame["member_id"].astype(str)))


def assemble(results: list[part.PartitionResult], cross: part.CrossResult | None) -> pd.DataFrame:
    """The partitions' findings, the cross-insurer groups' replacing theirs, in rule order."""
    by_rule: dict[str, list[pd.DataFrame]] = {}
    for r in results:
        for rule_id, f in r.findings.items():
            if cross is not None and rule_id == part.OVERLAP_RULE and len(cross.overlap_members):
                f = f[~part.key_mask(f, cross.overlap_members)]
            if cross is not None and rule_id == part.SHARED_RULE and len(cross.number_members):
                f = f[~part.key_mask(f, cross.number_members)]
            by_rule.setdefault(rule_id, []).append(f)
    if cross is not None:
        for rule_id, f in cross.findings.items():
            if f is not None:
                by_rule.setdefault(rule_id, []).append(f)
    frames = [f for rule_id in sorted(by_rule) for f in by_rule[rule_id] if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else part.empty_findings()


def evaluate_plan(runner, frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
                  quarantine: pd.DataFrame, row_counts: Mapping[str, int],
                  detector_settings: Mapping[str, Any] | None = None,
                  feed_history: pd.DataFrame | None = None,
                  on_rule: Callable[[str], None] | None = None,
                  partitions: int | None = None, release_frames: bool = False, early=None):
    """:func:`reconcile.pipeline.evaluate`'s result, computed by the partition plan on ``runner``
    (at most ``partitions`` partitions, default one per worker). Returns ``(Evaluation, last_run)``.

    ``release_frames``: once the runner holds its own copy of every partition's rows (files or
    workers: ``runner.ships_copies``), every entry of the mutable mapping ``frames`` is set to
    None, so the caller's frames can be freed while the rules run (the caller must not read them
    afterwards; :func:`reconcile.service.scan` does not).

    ``early``: an :class:`EarlyStart` made while the feed was read (the Dask engine, from the
    members and residents frames as they arrived): its layout, members' and residents' files
    and each partition's resolution, computing on its worker, are used instead of doing them now."""
    from reconcile.pipeline import DRIFT_RULE, Evaluation

    settings = dict(detector_settings or {})
    members = frames["members"]
    timings: dict[str, float] = {}
    worker_memory: dict[str, int] = {}
    shared = contextlib.ExitStack()      # the residents' prepared side, while the partitions run
    try:
        part.check_no_full_numbers(frames)
        started = time.perf_counter()
        if early is not None:
            insurers, plans = early.insurers, early.plans
        else:
            insurers, plans = layout(members, partitions or runner.workers)
        timings["plan:split"] = time.perf_counter() - started
        step = time.perf_counter()
        residents = early.residents if early is not None else runner.put(frames.get("residents"), broadcast=True)
        quarantine_shipped = runner.put(quarantine)
        if isinstance(runner, InlineRunner) and isinstance(residents, pd.DataFrame):
            # One after the other in this process against the same residents: their side is
            # prepared for the resolver once, not once per partition.
            from matchers.prepare import shared_residents
            shared.enter_context(shared_residents(residents))
        if on_rule:
            on_rule(f"{runner.kind}: {len(plans)} partitions on {runner.workers} workers")
        # A cluster starts each partition as soon as its frames are handed over (the workers
        # compute while the next partition is written); in this process they run after all
        # are written, so the feed's frames can be released first.
        submit = getattr(runner, "submit", None)
        shipped, pending = [], []
        done: dict[str, list] = {}
        if early is not None:
            # files written as they were read count only if they are these very frames
            done = {k: h for k, (frame, h) in early.written.items() if frames.get(k) is frame}
            early.written = {}                   # no reference left to the feed's frames
        for i, (bin_, om, nm) in enumerate(plans):
            if early is not None:
                # members (and the files written as they were read, if they are these very
                # frames) went out while the feed was read; the other member-keyed files now
                rest = tuple(n for n in part.MEMBER_FRAMES if n != "members" and n not in done)
                f = early.members[i]
                for handles in done.values():
                    f = f.join(handles[i])
                f = f.join(runner.frames(lambda bin_=bin_, rest=rest: frames_of(frames, bin_, insurers, only=rest)))
            else:
                f = runner.frames(lambda bin_=bin_: frames_of(frames, bin_, insurers))
            shipped.append(f)
            args = (",".join(bin_), f, residents, as_of, settings, feed_history, om, nm, quarantine_shipped,
                    dict(row_counts))
            if early is not None and submit:
                pending.append(runner.submit(part.evaluate_partition, *args, early.resolutions[i],
                                             worker=early.workers[i]))
            else:
                pending.append(submit(part.evaluate_partition, *args) if submit else args)
        timings["plan:scatter"] = time.perf_counter() - step
        if release_frames and getattr(runner, "ships_copies", False):
            for name in list(frames):
                frames[name] = None                 # type: ignore[index]
            del members
            from matchers.memory import release_memory
            release_memory()

        step = time.perf_counter()
        results: list[part.PartitionResult] = (runner.gather(pending) if submit else
                                               runner.map(part.evaluate_partition, pending))
        del pending
        if early is not None:
            early.resolutions = []              # the workers may drop the resolutions now
        timings["plan:partitions"] = time.perf_counter() - step

        step = time.perf_counter()
        overlap = [r.overlap_slice for r in results if r.overlap_slice is not None]
        number = [r.number_slice for r in results if r.number_slice is not None]
        cross = None
        if overlap or number:
            args = (overlap, number, residents, as_of, settings, feed_history)
            if residents is None or isinstance(residents, (pd.DataFrame, SpilledFrame)):
                # A few hundred rows: here, where the partitions' slices already are (shipping
                # them to a worker cost more than the rules: 1M, 1.2–1.8 s under load).
                cross = part.evaluate_cross(*args)
            else:
                cross = runner.map(part.evaluate_cross, [args])[0]
        timings["plan:cross_insurer"] = time.perf_counter() - step
        shuffled = sum(len(s["members"]) for s in overlap) + sum(len(s["members"]) for s in number)

        # The cross-insurer groups' wrong holders leave their partitions' MISLINK_SUSPECTED.
        step = time.perf_counter()
        redo = []
        for i, r in enumerate(results):
            if cross is None or r.number_slice is None or part.MISLINK_RULE not in r.findings:
                continue
            mine = cross.wrong[cross.wrong["insurer_number"].astype("string").isin(plans[i][0]).to_numpy(bool)]
            kept = part.drop_cross_wrong(r.findings[part.MISLINK_RULE], mine)
            if kept is None:
                redo.append((i, pd.concat([r.local_wrong, mine], ignore_index=True)))
            else:
                r.findings[part.MISLINK_RULE] = kept
        if redo:
            again = runner.map(part.mislink_again, [(shipped[i], residents, as_of, settings, feed_history, c)
                                                     for i, c in redo])
            for (i, _), f in zip(redo, again):
                results[i].findings[part.MISLINK_RULE] = f
        timings["plan:mislink_again"] = time.perf_counter() - step
        worker_memory = runner.worker_memory()
    finally:
        shared.close()
        runner.close()

    findings = assemble(results, cross)
    # FEED_DRIFT ran last in every partition; the pipeline puts its findings after the others'.
    is_drift = (findings["rule_id"] == DRIFT_RULE).to_numpy(bool)
    if is_drift.any():
        findings = pd.concat([findings[~is_drift], findings[is_drift]], ignore_index=True)
    stats_parts = [r.stats for r in results if r.stats is not None]
    stats = pd.concat(stats_parts, ignore_index=True) if stats_parts else pd.DataFrame(
        columns=["insurer_number", "statistic", "value"])
    skipped = list(results[0].skipped) if results else []
    seconds: dict[str, float] = {}
    for r in results:
        for k, v in r.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    if cross is not None:
        for k, v in cross.seconds.items():
            seconds[f"cross:{k}"] = v
    seconds.update(timings)
    last_run = {
        "runner": runner.kind, "workers": runner.workers, "partitions": len(plans),
        "partition_members": {r.insurer_number: r.n_members for r in results},
        "partition_peak_rss_kb": {r.insurer_number: r.peak_rss_kb for r in results},
        "worker_peak_rss_bytes": worker_memory, "shuffled_rows": int(shuffled),
        "mislink_again": len(redo), "timings": timings,
        "partition_seconds": {r.insurer_number: {k: round(float(v), 3) for k, v in r.extra.items()
                                                 if k.endswith("seconds")} for r in results},
        "shipped_bytes": int(getattr(getattr(runner, "files", None), "bytes_written", 0) or 0),
        "written_while_read": sorted(done),
    }
    log.info("%s plan: %d partitions, %d rows gathered across insurers, %d partitions rerun MISLINK",
             runner.kind, len(plans), shuffled, len(redo))
    return Evaluation(findings=findings[part.FINDING_COLUMNS], skipped=skipped, seconds=seconds, stats=stats), last_run
