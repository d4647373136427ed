"""The Dask engine gives the local engine's findings, finding ids included (findings.md:
"identical findings" = equal (insurer_number, member_id, rule_id, finding_id) sets).

Small feeds (≈1–2k members): one insurer, and a prefecture's month of three insurers with
persons active in two insurers (QUAL_OVERLAP across insurers) and numbers shared across
insurers (NUMBER_SHARED). One test runs against a real ``dask scheduler`` and two
``dask worker`` processes on loopback. Tests needing ``distributed`` skip without it, and fail
when ``RECONCILE_REQUIRE_DASK`` is set.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from reconcile import pipeline
from reconcile.engines import evaluator
from reconcile.engines.dask import DaskEngine, distributed_available
from reconcile.errors import EnvironmentProblem, InvalidInput
from reconcile.feeds import load_feed
from tests.dask.multifeed import AS_OF, build_prefecture_feed, generate_parts

KEY = b"dask-engine-test-key-0123456789abcdef"


def need_distributed() -> None:
    if distributed_available():
        return
    if os.environ.get("RECONCILE_REQUIRE_DASK"):
        pytest.fail("RECONCILE_REQUIRE_DASK is set but the Python package distributed is not installed")
    pytest.skip("the Python package distributed is not installed")


def keys(findings: pd.DataFrame) -> set:
    return set(zip(findings["insurer_number"].astype(str), findings["member_id"].astype(str),
                   findings["rule_id"].astype(str), findings["finding_id"].astype(str)))


def stats(evaluation) -> list:
    s = evaluation.stats
    return sorted(zip(s["insurer_number"].astype(str), s["statistic"].astype(str), s["value"].astype(float).round(9)))


def evaluate_with(fn, feed):
    return fn(feed.frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
              detector_settings={}, feed_history=None)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return root, generate_parts(root, [600, 300, 200], [21, 22, 23])


@pytest.fixture(scope="module")
def single(parts):
    """One generated feed as it is: one insurer (the generator's municipality)."""
    feed = load_feed(parts[1][0], key=KEY, as_of=AS_OF)
    return feed, evaluate_with(pipeline.evaluate, feed)


@pytest.fixture(scope="module")
def prefecture(parts):
    root, paths = parts
    truth = build_prefecture_feed(root / "feed", paths, overlaps=8, shared=5)
    feed = load_feed(root / "feed", key=KEY, as_of=AS_OF)
    return feed, truth, evaluate_with(pipeline.evaluate, feed)


@pytest.mark.timeout(120)
def test_single_insurer_feed_gives_the_local_findings(single, monkeypatch):
    # dask's own process pool (the engine's fallback without distributed): quick, no cluster.
    monkeypatch.setenv("RECONCILE_DASK_RUNNER", "processes")
    feed, local = single
    engine = DaskEngine(workers=2)
    dask_run = evaluate_with(engine.evaluate, feed)
    assert len(local.findings) > 20
    assert keys(dask_run.findings) == keys(local.findings)
    assert stats(dask_run) == stats(local)
    # One insurer: nothing to split, one partition.
    assert engine.last_run["partitions"] == 1 and engine.last_run["runner"] == "processes"


@pytest.mark.timeout(180)
def test_prefecture_feed_gives_the_local_findings_with_cross_insurer_cases(prefecture, monkeypatch):
    # Two partitions whatever this machine's cores (a LocalCluster's default leaves the core
    # reading the feed): the cross-insurer groups span partitions.
    monkeypatch.setenv("RECONCILE_DASK_PARTITIONS", "2")
    feed, truth, local = prefecture
    members = feed.frames["members"]
    assert members["insurer_number"].nunique() == 3
    assert feed.frames["residents"]["municipality_code"].nunique() == 3
    if not distributed_available():
        need_distributed()                  # fails under RECONCILE_REQUIRE_DASK
    engine = DaskEngine(workers=2)          # a LocalCluster of two worker processes
    dask_run = evaluate_with(engine.evaluate, feed)
    assert engine.last_run["runner"] == "distributed"
    assert len(engine.last_run["worker_peak_rss_bytes"]) == 2
    assert keys(dask_run.findings) == keys(local.findings)
    assert stats(dask_run) == stats(local)
    assert sorted(r for r, _ in dask_run.skipped) == sorted(r for r, _ in local.skipped)
    assert engine.last_run["partitions"] == 2          # three insurers binned on two workers
    assert engine.last_run["shuffled_rows"] > 0
    # A cluster on this machine reads the frames from Arrow IPC files, not scattered pickles.
    assert engine.last_run["shipped_bytes"] > 0
    assert set(engine.last_run["partition_seconds"]) == set(engine.last_run["partition_members"])
    # The cross-insurer cases are found (on both records for an overlap), by both engines.
    found = dask_run.findings
    overlap = set(zip(found.loc[found["rule_id"] == "QUAL_OVERLAP", "insurer_number"],
                      found.loc[found["rule_id"] == "QUAL_OVERLAP", "member_id"]))
    assert set(truth["overlap"]) <= overlap
    cross = found[found["rule_id"] == "QUAL_OVERLAP"]
    # The other record named is in another insurer's file (facts = "insurer:member, ...").
    assert any(any(o.split(":")[0] != r.insurer_number for o in r.facts.split(", ")) for r in cross.itertuples())
    shared = set(zip(found.loc[found["rule_id"] == "NUMBER_SHARED", "insurer_number"],
                     found.loc[found["rule_id"] == "NUMBER_SHARED", "member_id"]))
    assert len(set(truth["shared"]) & shared) >= len(truth["shared"]) - 1


@pytest.mark.timeout(180)
def test_resolution_started_while_the_feed_is_read_gives_the_same_findings(prefecture, monkeypatch):
    # load_feed's on_file hook hands the engine each frame as it lands: with the members and the
    # residents in, every partition's resolution starts on its worker; the findings are the same.
    need_distributed()
    monkeypatch.setenv("RECONCILE_DASK_PARTITIONS", "2")
    feed, _, local = prefecture
    engine = DaskEngine(workers=2)
    engine.start()
    engine.expect({})
    for kind, frame in feed.frames.items():           # the loader's order: members, residents, ...
        assert engine.on_file(kind, frame) is frame
    dask_run = evaluate_with(engine.evaluate, feed)
    assert engine.last_run["early_start"] is True
    # the other member-keyed files' partitions were written as they landed, not after the read
    assert engine.last_run["written_while_read"] == sorted(
        k for k in ("oqs", "benefit_history", "card_status") if feed.frames.get(k) is not None)
    assert any(k.startswith("early:provider:resolution") for k in dask_run.seconds)
    assert columns_of(dask_run.findings) == columns_of(local.findings)
    assert stats(dask_run) == stats(local)
    # Other frames than those announced (or other settings): the early work is not used.
    from reconcile.engines.plan import EarlyStart

    early = EarlyStart(feed.frames["members"], feed.frames["residents"], {}, [], [], None, [], [], [])
    assert early.fits(feed.frames, {}) and early.fits(feed.frames, None)
    assert not early.fits({**feed.frames, "members": feed.frames["members"].copy()}, {})
    assert not early.fits(feed.frames, {"block_max_residents": 5})


def columns_of(findings: pd.DataFrame) -> list:
    """Every column of every finding, in finding-id order (byte-identical, not only the keys)."""
    frame = findings.sort_values("finding_id").reset_index(drop=True)
    return [tuple(None if pd.isna(v) else str(v) for v in row) for row in frame[sorted(frame.columns)].itertuples(index=False)]


def test_local_engine_runs_the_partition_plan_in_process_for_a_large_feed(prefecture, monkeypatch):
    # Above RECONCILE_PARTITION_MEMBERS members per partition the local engine runs the Dask
    # engine's plan one partition after the other; every column of every finding is the same.
    from reconcile.engines import local

    feed, truth, whole = prefecture
    monkeypatch.setenv("RECONCILE_PARTITION_MEMBERS", "400")
    # scan releases the feed's frames to the plan (5M: they are most of the memory): the mapping
    # is emptied once the partitions are written out.
    frames = dict(feed.frames)
    run = evaluator("local")(frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
                             detector_settings={}, feed_history=None, release_frames=True)
    assert all(v is None for v in frames.values()) and set(frames) == set(feed.frames)
    assert local.last_run["runner"] == "inline"
    assert local.last_run["partitions"] == 3              # 1,100 members, 400 a partition, 3 insurers
    assert local.last_run["shuffled_rows"] > 0           # the cross-insurer groups were gathered
    assert columns_of(run.findings) == columns_of(whole.findings)
    assert stats(run) == stats(whole)
    assert run.skipped == whole.skipped
    assert local.last_run["shipped_bytes"] > 0           # the partitions went through spill files
    # Small feeds stay one partition: the whole pipeline, and the frames are kept.
    monkeypatch.setenv("RECONCILE_PARTITION_MEMBERS", "100000")
    frames = dict(feed.frames)
    evaluator("local")(frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
                       release_frames=True)
    assert local.last_run == {}
    assert all(frames[k] is feed.frames[k] for k in frames)


def test_local_engine_writes_a_large_feed_to_its_partitions_while_it_is_read(parts, prefecture, monkeypatch):
    # service.scan hands load_feed the local engine's on_file hook: each member-keyed file goes
    # to its partitions' files as soon as it is read, the feed keeps only the members' keys and
    # empty frames, and the findings (every column), statistics and feed warnings are the same.
    from reconcile.engines import local
    from reconcile.engines.local import LocalEngine

    root, _ = parts
    _, _, whole = prefecture
    monkeypatch.setenv("RECONCILE_PARTITION_MEMBERS", "400")
    engine = LocalEngine()
    engine.expect({})
    feed = load_feed(root / "feed", key=KEY, as_of=AS_OF, on_file=engine.on_file)
    reference = load_feed(root / "feed", key=KEY, as_of=AS_OF)
    assert list(feed.frames["members"].columns) == local.MEMBER_KEYS
    assert len(feed.frames["members"]) == len(reference.frames["members"])
    for kind in ("oqs", "benefit_history", "card_status"):
        assert len(feed.frames[kind]) == 0 and list(feed.frames[kind].columns) == list(reference.frames[kind].columns)
    assert feed.frames["residents"] is not None and len(feed.frames["residents"]) == len(reference.frames["residents"])
    timeless = lambda v: {k: {f: x for f, x in s.items() if f != "seconds"} if isinstance(s, dict) else s  # noqa: E731
                          for k, s in v.items()}
    assert feed.warnings == reference.warnings and timeless(feed.validation) == timeless(reference.validation)
    folder = engine._early.runner.files.folder
    assert folder.is_dir() and any(folder.iterdir())
    frames = dict(feed.frames)
    run = engine.evaluate(frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
                          detector_settings={}, feed_history=None, release_frames=True)
    assert local.last_run["runner"] == "inline" and local.last_run["partitions"] == 3
    assert sorted(local.last_run["written_while_read"]) == ["benefit_history", "card_status", "oqs"]
    assert columns_of(run.findings) == columns_of(whole.findings)
    assert stats(run) == stats(whole) and run.skipped == whole.skipped
    assert not folder.exists()                        # the partitions' files are removed
    # handed other members than the ones it wrote, the engine refuses (and cleans up)
    engine.on_file("members", reference.frames["members"])
    folder = engine._early.runner.files.folder
    with pytest.raises(RuntimeError):
        engine.evaluate(dict(reference.frames), as_of=feed.as_of, quarantine=feed.quarantine,
                        row_counts=feed.row_counts)
    assert not folder.exists()


def test_as_of_warning_is_the_same_from_date_counts():
    # the loader keeps per-date counts of each file instead of the frames: the 99th percentile
    # of every event date is the same one as from the dates themselves.
    import numpy as np

    from reconcile.feeds.loader import _as_of_warnings, _event_dates

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 200))
        dates = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D"))
        dates[rng.random(n) < 0.2] = pd.NaT
        a = pd.DataFrame({"acquisition_date": dates.iloc[: n // 2].reset_index(drop=True)})
        b = pd.DataFrame({"valid_from": dates.iloc[n // 2:].reset_index(drop=True)})
        warned = _as_of_warnings([_event_dates("members", a), _event_dates("benefit_history", b)],
                                 pd.Timestamp("2031-01-01"))
        present = dates.dropna().to_numpy(dtype="datetime64[ns]")
        if not len(present):
            assert warned == []
            continue
        latest = pd.Timestamp(np.sort(present)[int(np.ceil(0.99 * (len(present) - 1)))])
        assert warned[0]["feed_latest_date"] == latest.date().isoformat()


def test_spilled_frames_read_back_equal_dtypes_included(prefecture, tmp_path):
    from reconcile.engines.spill import FrameFiles, value

    feed, _, _ = prefecture
    files = FrameFiles(tmp_path)
    handle = files.write({**feed.frames, "note": "kept as is"})
    back = handle()
    for name, frame in feed.frames.items():
        if frame is None:
            assert back[name] is None
            continue
        pd.testing.assert_frame_equal(back[name], frame, check_exact=True)
        assert back[name].dtypes.equals(frame.dtypes)
    assert back["note"] == "kept as is"
    one = files.put(feed.frames["residents"])
    pd.testing.assert_frame_equal(value(one), feed.frames["residents"], check_exact=True)
    assert files.bytes_written > 0
    files.close()
    assert not files.folder.exists()


def test_a_dropped_wrong_holder_who_was_a_swap_partner_reruns_the_rule():
    from reconcile.engines.partition import drop_cross_wrong

    found = pd.DataFrame({"insurer_number": ["139000", "139000", "139000"], "member_id": ["A", "B", "C"],
                          "evidence": ['{"partner_member_id": "B"}', '{"partner_member_id": "A"}', "{}"]})
    wrong = pd.DataFrame({"insurer_number": ["139000"], "member_id": ["C"]})
    assert drop_cross_wrong(found, wrong)["member_id"].tolist() == ["A", "B"]
    # B leaves, and A's finding named B as its household-swap partner: A's answer changes.
    assert drop_cross_wrong(found, wrong.assign(member_id=["B"])) is None


@pytest.mark.timeout(240)
def test_scan_on_dask_starts_the_workers_while_the_feed_is_read_and_stops_them_when_refused(parts, tmp_path, monkeypatch):
    from reconcile import service
    from reconcile.config import Settings
    from reconcile.errors import FeedRejected

    monkeypatch.setenv("RECONCILE_DASK_RUNNER", "processes")      # dask's process pool: no cluster to wait for
    calls, arrived = [], []
    real_start, real_close, real_on_file = DaskEngine.start, DaskEngine.close, DaskEngine.on_file
    monkeypatch.setattr(DaskEngine, "start", lambda self: (calls.append("start"), real_start(self))[1])
    monkeypatch.setattr(DaskEngine, "close", lambda self: (calls.append("close"), real_close(self))[1])
    monkeypatch.setattr(DaskEngine, "on_file",
                        lambda self, kind, frame: (arrived.append(kind), real_on_file(self, kind, frame))[1])
    settings = lambda name: Settings(database_url=f"sqlite:///{tmp_path / name}", secret_key=KEY.decode(),  # noqa: E731
                                     config_path=tmp_path / "none.toml")
    feed_dir = parts[1][0]
    on_dask = service.scan(feed_dir, as_of=AS_OF, settings=settings("dask.db"), engine="dask", workers=2)
    assert calls == ["start", "close"]
    assert arrived[:2] == ["members", "residents"]      # load_feed handed each frame over as it landed
    local = service.scan(feed_dir, as_of=AS_OF, settings=settings("local.db"))
    assert on_dask.findings_by_rule == local.findings_by_rule and on_dask.total_findings > 20
    calls.clear()
    with pytest.raises(FeedRejected):
        service.scan(tmp_path / "no-such-feed", as_of=AS_OF, settings=settings("refused.db"), engine="dask", workers=2)
    assert calls == ["start", "close"]


def test_no_full_number_is_shipped_to_workers(prefecture):
    feed, _, _ = prefecture
    frames = dict(feed.frames)
    frames["members"] = frames["members"].assign(individual_number="123456789012")
    with pytest.raises(ValueError, match="individual numbers never leave"):
        DaskEngine(workers=1).evaluate(frames, as_of=feed.as_of, quarantine=feed.quarantine,
                                       row_counts=feed.row_counts)


def test_a_local_cluster_leaves_the_reading_core_to_the_main_process(monkeypatch):
    from reconcile.engines.dask import _partitions

    class Local:
        cluster, workers = object(), 4

    class Remote:
        cluster, workers = None, 4

    monkeypatch.delenv("RECONCILE_DASK_PARTITIONS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert _partitions(Local()) == 1 and _partitions(Remote()) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert _partitions(Local()) == 4
    monkeypatch.setenv("RECONCILE_DASK_PARTITIONS", "3")
    assert _partitions(Local()) == 3 and _partitions(Remote()) == 3


def test_engine_flags_are_checked():
    with pytest.raises(InvalidInput):
        evaluator("local", workers=2)
    with pytest.raises(InvalidInput):
        evaluator("spark")
    with pytest.raises(InvalidInput):
        evaluator("dask", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InvalidInput):
        evaluator("dask", workers=0)
    if not distributed_available():
        with pytest.raises(EnvironmentProblem, match="distributed"):
            evaluator("dask", scheduler="tcp://127.0.0.1:1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_real_scheduler_and_two_workers_on_loopback(prefecture, tmp_path):
    need_distributed()
    feed, _, local = prefecture
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard", "--no-show"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "scheduler.log", "wb"))]
    try:
        for i in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address,
                                           "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                          cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(tmp_path / f"worker{i}.log", "wb")))
        from distributed import Client
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the scheduler and two workers did not come up"
            time.sleep(0.5)
        engine = DaskEngine(scheduler=address)
        dask_run = evaluate_with(engine.evaluate, feed)
        assert engine.last_run["runner"] == "distributed" and engine.last_run["workers"] == 2
        assert engine.last_run["shipped_bytes"] == 0        # an existing scheduler: scattered
        assert keys(dask_run.findings) == keys(local.findings)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
