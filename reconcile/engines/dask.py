"""Dask engine: the same rule functions per insurer partition on a cluster (``scan --engine dask``).

``--workers N``: a ``distributed.LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``
on this machine; ``--scheduler ADDRESS``: ``distributed.Client(ADDRESS)`` for an existing cluster.
Without the ``distributed`` package, ``--workers N`` runs on dask's local process pool (the
same tasks, no cluster) and ``--scheduler`` is an environment error.

The plan (see :mod:`reconcile.engines.partition` for which rule reads what):

1. members, oqs, benefit history and card status split by insurer; the residents shipped once
   (broadcast); every rule but FEED_DRIFT runs per insurer;
2. the QUAL_OVERLAP groups (last four + birth date + sex) and number groups (keyed hash) that
   hold members of two insurers are gathered from every partition and evaluated together;
   their findings replace the partitions' for those members;
3. MISLINK_SUSPECTED runs again in a partition whose shared-number wrong holders changed;
4. FEED_DRIFT and the feed statistics per insurer, after the pipeline's own statistics.

Only canonical frames travel: keyed number hashes and last four digits, never a full number.
Persisting stays in the calling process (one transaction, :func:`reconcile.service.scan`).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from reconcile.engines import partition as part
from reconcile.errors import EnvironmentProblem, InvalidInput

log = logging.getLogger("reconcile")
DEFAULT_WORKERS = 2


def distributed_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


class _DistributedRunner:
    """Tasks on a distributed cluster (a LocalCluster of processes, or an existing scheduler)."""

    kind = "distributed"

    def __init__(self, workers: int | None, scheduler: str | None):
        from distributed import Client, LocalCluster

        self.cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                self.cluster = LocalCluster(n_workers=workers or DEFAULT_WORKERS, threads_per_worker=1,
                                            processes=True, dashboard_address=None)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise EnvironmentProblem(
                f"Dask スケジューラーに接続できません: {scheduler or 'LocalCluster'}（{exc}）",
                f"cannot reach the Dask scheduler {scheduler or 'LocalCluster'} ({exc})") from exc
        self.workers = len(self.client.scheduler_info().get("workers", {}))

    def put(self, obj: Any, broadcast: bool = False) -> Any:
        return self.client.scatter([obj], broadcast=broadcast)[0]

    def map(self, func: Callable, arglists: list[tuple]) -> list:
        futures = [self.client.submit(func, *args, pure=False) for args in arglists]
        return self.client.gather(futures)

    def worker_memory(self) -> dict[str, int]:
        """Peak resident memory (bytes) of every worker process."""
        def peak() -> int:
            import resource
            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        return dict(self.client.run(peak))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class _ProcessRunner:
    """dask's local process pool (no ``distributed``): the same tasks, one process per worker."""

    kind = "processes"

    def __init__(self, workers: int | None):
        self.workers = workers or DEFAULT_WORKERS

    def put(self, obj: Any, broadcast: bool = False) -> Any:
        return obj

    def map(self, func: Callable, arglists: list[tuple]) -> list:
        import dask

        tasks = [dask.delayed(func, pure=False)(*args) for args in arglists]
        # fork: the workers need not import the calling program's main module again (spawn would).
        with dask.config.set({"multiprocessing.context": "fork"}):
            return list(dask.compute(*tasks, scheduler="processes",
                                     num_workers=max(1, min(self.workers, len(tasks)))))

    def worker_memory(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


class DaskEngine:
    """``evaluate`` with :func:`reconcile.pipeline.evaluate`'s signature, on Dask."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers is not None and scheduler:
            raise InvalidInput("--workers と --scheduler は同時に指定できません",
                               "--workers and --scheduler cannot be given together", field="--workers")
        if workers is not None and workers < 1:
            raise InvalidInput(f"--workers は 1 以上で指定してください（値: {workers}）",
                               f"--workers must be at least 1, got {workers}", field="--workers", value=workers)
        if scheduler and not distributed_available():
            raise EnvironmentProblem(
                "--scheduler には Python パッケージ distributed が必要ですが、インストールされていません",
                "--scheduler needs the Python package distributed, which is not installed")
        self.workers, self.scheduler = workers, scheduler
        self.last_run: dict[str, Any] = {}

    def _runner(self):
        if distributed_available() and os.environ.get("RECONCILE_DASK_RUNNER") != "processes":
            return _DistributedRunner(self.workers, self.scheduler)
        return _ProcessRunner(self.workers)

    def evaluate(self, frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
                 quarantine: pd.DataFrame, row_counts: Mapping[str, int],
                 detector_settings: Mapping[str, Any] | None = None,
                 feed_history: pd.DataFrame | None = None,
                 on_rule: Callable[[str], None] | None = None):
        from reconcile.pipeline import Evaluation, pipeline_statistics

        settings = dict(detector_settings or {})
        part.check_no_full_numbers(frames)
        members = frames["members"]
        timings: dict[str, float] = {}
        started = time.perf_counter()
        groups = members.groupby(members["insurer_number"].astype("string"), sort=True).indices
        insurers = sorted(groups)
        overlap_mask, number_mask = part.cross_masks(members)
        timings["dask:split"] = time.perf_counter() - started

        step = time.perf_counter()
        runner = self._runner()
        timings["dask:cluster_start"] = time.perf_counter() - step
        try:
            step = time.perf_counter()
            plans = []
            for bin_ in _bins(groups, max(1, runner.workers)):
                rows = np.sort(np.concatenate([np.asarray(groups[i], dtype=np.int64) for i in bin_]))
                plans.append((bin_, self._frames_of(frames, bin_, insurers), overlap_mask[rows], number_mask[rows]))
            timings["dask:split"] += time.perf_counter() - step
            step = time.perf_counter()
            residents = runner.put(frames.get("residents"), broadcast=True)
            shipped = [runner.put(p[1]) for p in plans]
            timings["dask:scatter"] = time.perf_counter() - step
            if on_rule:
                on_rule(f"dask: {len(plans)} partitions on {runner.workers} workers")

            step = time.perf_counter()
            results: list[part.PartitionResult] = runner.map(part.evaluate_partition, [
                (",".join(bin_), f, residents, as_of, settings, feed_history, om, nm)
                for (bin_, _, om, nm), f in zip(plans, shipped)])
            timings["dask:partitions"] = time.perf_counter() - step

            step = time.perf_counter()
            overlap = [r.overlap_slice for r in results if r.overlap_slice is not None]
            number = [r.number_slice for r in results if r.number_slice is not None]
            cross = None
            if overlap or number:
                cross = runner.map(part.evaluate_cross, [(overlap, number, residents, as_of, settings, feed_history)])[0]
            timings["dask:cross_insurer"] = time.perf_counter() - step
            shuffled = sum(len(s["members"]) for s in overlap) + sum(len(s["members"]) for s in number)

            step = time.perf_counter()
            redo = []
            for i, r in enumerate(results):
                if r.phase1_wrong is None or cross is None or r.number_slice is None:
                    continue
                mine = cross.wrong[cross.wrong["insurer_number"].astype("string").isin(plans[i][0]).to_numpy(bool)]
                correct = pd.concat([r.local_wrong, mine], ignore_index=True)
                if _keyset(correct) != _keyset(r.phase1_wrong):
                    redo.append((i, correct))
            if redo:
                again = runner.map(part.mislink_again, [(shipped[i], residents, as_of, settings, feed_history, c)
                                                         for i, c in redo])
                for (i, _), f in zip(redo, again):
                    results[i].findings[part.MISLINK_RULE] = f
            timings["dask:mislink_again"] = time.perf_counter() - step

            first = _assemble(results, cross)
            step = time.perf_counter()
            extra = pipeline_statistics(members, first, quarantine, row_counts)
            drift = runner.map(part.drift_partition, [
                (f, as_of, settings, feed_history, extra[extra["insurer_number"].astype("string").isin(bin_).to_numpy(bool)])
                for (bin_, *_), f in zip(plans, shipped)])
            timings["dask:drift"] = time.perf_counter() - step
            worker_memory = runner.worker_memory()
        finally:
            runner.close()

        drift_findings = [d[0] for d in drift if len(d[0])]
        parts_ = [f for f in (first, *drift_findings) if len(f)]
        findings = pd.concat(parts_, ignore_index=True) if parts_ else part.empty_findings()
        stats = pd.concat([*(d[3] for d in drift), extra], ignore_index=True)
        skipped = list(results[0].skipped) if results else []
        skipped += list(drift[0][1]) if drift else []
        seconds: dict[str, float] = {}
        for r in results:
            for k, v in r.seconds.items():
                seconds[k] = seconds.get(k, 0.0) + v
        for d in drift:
            for k, v in d[2].items():
                seconds[k] = seconds.get(k, 0.0) + v
        if cross is not None:
            for k, v in cross.seconds.items():
                seconds[f"cross:{k}"] = v
        seconds.update(timings)
        self.last_run = {
            "runner": runner.kind, "workers": runner.workers, "partitions": len(plans),
            "partition_members": {r.insurer_number: r.n_members for r in results},
            "partition_peak_rss_kb": {r.insurer_number: r.peak_rss_kb for r in results},
            "worker_peak_rss_bytes": worker_memory, "shuffled_rows": int(shuffled),
            "mislink_again": len(redo), "timings": timings,
        }
        log.info("dask engine: %d partitions, %d rows gathered across insurers, %d partitions rerun MISLINK",
                 len(plans), shuffled, len(redo))
        return Evaluation(findings=findings[part.FINDING_COLUMNS], skipped=skipped, seconds=seconds, stats=stats)

    @staticmethod
    def _frames_of(frames: Mapping[str, pd.DataFrame | None], bin_: list[str], insurers: list[str]) -> dict:
        """The rows of the insurers ``bin_`` in every member-keyed frame (rows of an insurer
        without members go with the first insurer's partition, so no row is lost)."""
        out: dict[str, pd.DataFrame | None] = {}
        known = set(insurers)
        for name in part.MEMBER_FRAMES:
            frame = frames.get(name)
            if frame is None:
                out[name] = None
                continue
            values = frame["insurer_number"].astype("string")
            mask = values.isin(bin_).fillna(False).to_numpy(bool).copy()
            if insurers[0] in bin_:
                mask = mask | ~values.isin(known).fillna(False).to_numpy(bool)
            out[name] = frame.loc[mask].reset_index(drop=True)
        for name, frame in frames.items():
            if name not in out and name != "residents":
                out[name] = frame
        return out


def _bins(groups: Mapping[str, np.ndarray], n: int) -> list[list[str]]:
    """Insurers in at most ``n`` partitions of about equal member count (largest first into the
    lightest): each worker prepares the broadcast residents once per partition, so more
    partitions than workers only repeats that work."""
    loads = [0] * min(n, len(groups))
    bins: list[list[str]] = [[] for _ in loads]
    for name in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        lightest = loads.index(min(loads))
        bins[lightest].append(name)
        loads[lightest] += len(groups[name])
    return [sorted(b) for b in bins if b]


def _keyset(frame: pd.DataFrame | None) -> set:
    if frame is None or len(frame) == 0:
        return set()
    return set(zip(frame["insurer_number"].astype(str), frame["member_id"].astype(str)))


def _assemble(results: list[part.PartitionResult], cross: part.CrossResult | None) -> pd.DataFrame:
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
