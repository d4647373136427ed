"""Dask engine: the same rule functions per insurer partition on a cluster (``scan --engine dask``).

``--workers N``: a ``distributed.LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``
on this machine; ``--scheduler ADDRESS``: ``distributed.Client(ADDRESS)`` for an existing cluster.
Without the ``distributed`` package, ``--workers N`` runs on dask's local process pool (the
same tasks, no cluster) and ``--scheduler`` is an environment error.

The plan is :func:`reconcile.engines.plan.evaluate_plan` (the local engine runs the same plan
in-process for large feeds); see :mod:`reconcile.engines.partition` for which rule reads what.

How frames reach the workers: a LocalCluster's workers (this machine) read each partition's
frames and the residents from Arrow IPC files the calling process writes once
(:mod:`reconcile.engines.spill`; at 100k the hand-over fell from 3.3 s of scatter to 0.2 s);
an existing scheduler's workers get them scattered (residents broadcast once). The cluster
starts, and imports the rule modules on every worker, while the feed is read; with the
loader's ``on_file`` hook (:meth:`DaskEngine.on_file`), as soon as the members and residents
are read each partition's resolution — the largest share of the rules — starts on the worker
that will run the partition, while the main process reads the other files. With 2 workers on
2 cores that overlap is where Dask can gain on the local engine: every partition prepares the
whole residents again, so splitting the rules in two alone barely shortens them.

Only canonical frames travel: keyed number hashes and last four digits, never a full number.
Persisting stays in the calling process (one transaction, :func:`reconcile.service.scan`).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping

import pandas as pd

from reconcile.engines import partition as part
from reconcile.engines.plan import evaluate_plan
from reconcile.errors import EnvironmentProblem, InvalidInput

DEFAULT_WORKERS = 2
#: ``RECONCILE_DASK_PARTITIONS=N``: split the feed in N partitions. Default: one per worker on
#: an existing scheduler; on a LocalCluster one per worker up to this machine's cores less the
#: one the main process reads the feed on. Each partition prepares the whole residents again
#: (at 1M x4 a partition of half the members costs ~1.5x half the rules' CPU), and the
#: partitions' resolutions run while the feed is read, on the cores the read leaves: on 2 cores
#: one partition (its resolution overlaps the read on the spare core, the rules cost what the
#: local engine's do) beats two, which need ~1.5x the CPU and lose whenever the cores are busy
#: (100k under load: 2 partitions 1.74x local's wall, 1 partition 1.60x — the cluster's fixed
#: start-up dominates at 100k).
PARTITIONS_ENV = "RECONCILE_DASK_PARTITIONS"
#: ``RECONCILE_DASK_SHIP=scatter``: scatter the frames to a LocalCluster's workers instead of
#: handing them Arrow IPC files (the default on this machine; an existing scheduler always scatters).
SHIP_ENV = "RECONCILE_DASK_SHIP"


def warm_up() -> None:
    """Run on every worker when the cluster is up: the rule modules imported before the first task."""
    import detectors.rules  # noqa: F401
    import matchers.resolve  # noqa: F401
    import reconcile.engines.partition  # noqa: F401


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
        # Workers of a cluster on this machine read the frames from Arrow IPC files the calling
        # process writes (a page-cache copy and a memory map, where a scatter pickles every
        # column and sends it over loopback); an existing scheduler's workers may be elsewhere.
        self.files = None
        if self.cluster is not None and os.environ.get(SHIP_ENV, "files") != "scatter":
            from reconcile.engines.spill import FrameFiles
            self.files = FrameFiles()
        self.ships_copies = True
        # Import the rule modules on every worker now (the cluster starts while the feed is read).
        try:
            self.client.run(warm_up)
        except Exception:  # noqa: BLE001 — a worker that cannot import them fails its task, with the reason
            pass

    def put(self, obj: Any, broadcast: bool = False) -> Any:
        if self.files is not None and isinstance(obj, pd.DataFrame):
            return self.files.put(obj)
        return self.client.scatter([obj], broadcast=broadcast)[0]

    def frames(self, build: Callable[[], dict]) -> Any:
        if self.files is not None:
            return self.files.write(build())
        return self.put(build())

    def map(self, func: Callable, arglists: list[tuple]) -> list:
        futures = [self.client.submit(func, *args, pure=False) for args in arglists]
        return self.client.gather(futures)

    def submit(self, func: Callable, *args, worker: str | None = None) -> Any:
        """Start one task now (the plan hands partitions over one by one); ``worker``: on that
        worker only (where the partition's early resolution lives)."""
        if worker is None:
            return self.client.submit(func, *args, pure=False)
        return self.client.submit(func, *args, pure=False, workers=[worker], allow_other_workers=False)

    def gather(self, futures: list) -> list:
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
        if self.files is not None:
            self.files.close()


class _ProcessRunner:
    """dask's local process pool (no ``distributed``): the same tasks, one process per worker."""

    kind = "processes"
    ships_copies = False

    def __init__(self, workers: int | None):
        self.workers = workers or DEFAULT_WORKERS

    def put(self, obj: Any, broadcast: bool = False) -> Any:
        return obj

    def frames(self, build: Callable[[], dict]) -> Any:
        return build()

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


def _partitions(runner) -> int:
    """How many partitions the plan makes on ``runner`` (see :data:`PARTITIONS_ENV`)."""
    value = os.environ.get(PARTITIONS_ENV)
    if value:
        return max(1, int(value))
    if getattr(runner, "cluster", None) is not None:          # a LocalCluster on this machine
        return max(1, min(runner.workers, (os.cpu_count() or 2) - 1))
    return max(1, runner.workers)


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
        self._starting = None            # a Future of the runner, when start() was called
        self._expected_settings = None   # detector settings of the scan, when expect() was called
        self._arrived: dict[str, pd.DataFrame] = {}
        self._early = None               # a Future of an EarlyStart (on_file)
        self._early_pool = None          # its thread; later files' partitions are written there too
        self._writes: list = []

    def start(self) -> None:
        """Bring the workers up in the background; :func:`reconcile.service.scan` calls it before
        it reads the feed, so the cluster starts while the feed is read (evaluate waits for it)."""
        if self._starting is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-dask-start")
            self._starting = pool.submit(self._runner)
            pool.shutdown(wait=False)

    def expect(self, detector_settings: Mapping[str, Any] | None) -> None:
        """The detector settings the scan will evaluate with: lets :meth:`on_file` start work."""
        self._expected_settings = dict(detector_settings or {})

    def on_file(self, kind: str, frame: pd.DataFrame | None) -> pd.DataFrame | None:
        """``load_feed``'s hook, called as each file's frame is complete. Once the members and the
        residents are in (the first two files) and :meth:`expect` was called, a background thread
        writes them out and starts every partition's resolution on its worker while the main
        process reads the other files; :meth:`evaluate` uses that work only if it is handed the
        very same frames and settings. Returns ``frame`` unchanged."""
        if frame is not None and kind in ("members", "residents"):
            self._arrived[kind] = frame
        if (self._early is None and self._starting is not None and self._expected_settings is not None
                and {"members", "residents"} <= set(self._arrived)):
            from concurrent.futures import ThreadPoolExecutor

            self._early_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-dask-early")
            self._early = self._early_pool.submit(self._start_early, self._starting, self._arrived.pop("members"),
                                                  self._arrived.pop("residents"), self._expected_settings)
        elif (self._early is not None and frame is not None and kind in part.MEMBER_FRAMES
              and kind != "members"):
            # The other member-keyed files' partitions are written as they land, on the same
            # thread (after the early start), instead of after the whole feed is read.
            self._writes.append(self._early_pool.submit(self._write_early, self._early, kind, frame))
        return frame

    def _write_early(self, early_future, kind: str, frame: pd.DataFrame) -> None:
        from reconcile.engines.plan import write_partitions

        early = early_future.result()
        if early is None:
            return
        early.written[kind] = (frame, write_partitions(early.files, kind, frame, early.insurers, early.plans))

    def _finish_early(self):
        """The early start and the files written since (waits for them), or None."""
        early_future, self._early = self._early, None
        pool, self._early_pool = self._early_pool, None
        writes, self._writes = self._writes, []
        self._arrived.clear()
        if early_future is None:
            return None
        early = None
        try:
            early = early_future.result()
            for write in writes:
                write.result()
        except Exception:  # noqa: BLE001 — the early start failed: the plan does it all now
            early = None
        finally:
            pool.shutdown(wait=True)
        return early

    def _start_early(self, starting, members: pd.DataFrame, residents: pd.DataFrame, settings: dict):
        from reconcile.engines.plan import EarlyStart, frames_of, layout

        runner = starting.result()
        if getattr(runner, "files", None) is None:
            return None                          # scattered to a remote cluster: nothing early
        part.check_no_full_numbers({"members": members, "residents": residents})
        insurers, plans = layout(members, _partitions(runner))
        residents_handle = runner.put(residents)
        workers = sorted(runner.client.scheduler_info().get("workers", {}))
        handles, resolutions, pins = [], [], []
        for i, (bin_, _, _) in enumerate(plans):
            handle = runner.files.write(frames_of({"members": members}, bin_, insurers, only=("members",)))
            pin = workers[i % len(workers)]
            resolutions.append(runner.submit(part.resolve_partition, handle, residents_handle, settings, worker=pin))
            handles.append(handle)
            pins.append(pin)
        early = EarlyStart(members, residents, settings, insurers, plans, residents_handle, handles,
                           resolutions, pins)
        early.files = runner.files
        return early

    def close(self) -> None:
        """Shut down a cluster started for a scan that then did not run (a refused feed)."""
        self._finish_early()
        starting, self._starting = self._starting, None
        if starting is not None:
            try:
                starting.result().close()
            except Exception:  # noqa: BLE001 — it failed to start: nothing to close
                pass

    def _runner(self):
        if distributed_available() and os.environ.get("RECONCILE_DASK_RUNNER") != "processes":
            return _DistributedRunner(self.workers, self.scheduler)
        return _ProcessRunner(self.workers)

    def evaluate(self, frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
                 quarantine: pd.DataFrame, row_counts: Mapping[str, int],
                 detector_settings: Mapping[str, Any] | None = None,
                 feed_history: pd.DataFrame | None = None,
                 on_rule: Callable[[str], None] | None = None, release_frames: bool = False):
        part.check_no_full_numbers(frames)
        step = time.perf_counter()
        starting, self._starting = self._starting, None
        runner = starting.result() if starting is not None else self._runner()
        started = time.perf_counter() - step        # what was left to wait for
        early = self._finish_early()
        if early is not None:
            if not early.fits(frames, detector_settings):
                early = None                      # other frames or settings: its work does not apply
            if early is not None:
                early.members_frame = early.residents_frame = None    # the plan may release them
                try:
                    runner.client.run(part.restore_priorities)        # the read is done: full speed
                except Exception:  # noqa: BLE001 — they finish at the lower priority
                    pass
        evaluation, self.last_run = evaluate_plan(
            runner, frames, as_of=as_of, quarantine=quarantine, row_counts=row_counts,
            detector_settings=detector_settings, feed_history=feed_history, on_rule=on_rule,
            release_frames=release_frames, early=early, partitions=_partitions(runner))
        self.last_run["timings"]["dask:cluster_start"] = started
        self.last_run["early_start"] = early is not None
        evaluation.seconds["dask:cluster_start"] = started
        return evaluation
