"""分割実行 / the rule functions run per partition, and the few that cross partitions.

Pure functions (no cluster, no I/O): the Dask engine ships them to workers; the tests call them
directly too. Which rule reads what across members (from the rule code, ``detectors/rules``):

- every rule reads one member's rows (members, oqs, benefit history, card status) against the
  whole resident registry, through the ``resolution`` provider. The resolution of a member reads
  other members only within its insurer (the insurer's home municipality, the member's
  household's anchors), so it is computed per insurer with the residents broadcast whole —
  resident positions are then the same in every partition;
- ``QUAL_OVERLAP`` pairs records of one person across members: groups of equal
  (number_last4, birth_date, sex) (``same_person_pairs``), then the same resident and no
  suspected mis-link (``member_resident``). A group spanning two insurers is evaluated again on
  its rows gathered from every partition (the "shuffle on the number");
- ``NUMBER_SHARED`` (provider ``shared_numbers``) groups members on ``number_hash``; a group
  spanning insurers is evaluated on its holders gathered from every partition, with their
  resolution verdicts and linked pairs. ``MISLINK_SUSPECTED`` leaves out the wrong holders of a
  shared number: a partition runs it leaving out only the wrong holders of its own groups (those
  are final), and the wrong holders the cross-insurer groups name are then dropped from its
  findings. A finding reads other flagged members only through its household-swap partner, so
  the rule runs again (``mislink_again``) only when a dropped member was the partner of a kept one;
- ``FEED_DRIFT`` and the feed statistics are per insurer; the pipeline's two statistics need only
  the insurer's members and its NOTATION_DIFFERENCE findings (no cross-insurer rule changes those),
  so they run at the end of the partition's own task, after every other rule.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from detectors.engine import FINDING_COLUMNS, Inputs, MissingInput, finalise
from detectors.registry import RULES

DRIFT_RULE = "FEED_DRIFT"
OVERLAP_RULE = "QUAL_OVERLAP"
SHARED_RULE = "NUMBER_SHARED"
MISLINK_RULE = "MISLINK_SUSPECTED"
NOTATION_RULE = "NOTATION_DIFFERENCE"
#: Rules whose finding for one member can depend on members of other insurers.
CROSS_RULES = (OVERLAP_RULE, SHARED_RULE, MISLINK_RULE)
KEY = ["insurer_number", "member_id"]
OVERLAP_KEY = ["number_last4", "birth_date", "sex"]
#: Feed files whose rows belong to one insurer's member (partitioned by insurer).
MEMBER_FRAMES = ("members", "oqs", "benefit_history", "card_status")
#: Column names that would carry a full individual number (never in canonical frames).
FULL_NUMBER_COLUMNS = ("individual_number",)


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame(columns=FINDING_COLUMNS)


def scan_inputs(frames, as_of, settings, feed_history) -> Inputs:
    return Inputs(frames, {"as_of": pd.Timestamp(as_of).normalize(), "settings": dict(settings or {}),
                           "feed_history": feed_history if feed_history is not None else pd.DataFrame()})


def run_rule(inputs: Inputs, rule_id: str, skipped: list | None = None,
             overrides: Mapping[str, Any] | None = None) -> pd.DataFrame | None:
    """One registered rule through ``inputs`` (None when skipped; the reason appended);
    ``overrides``: parameter values given to this rule only."""
    rule = RULES[rule_id]
    missing = [name for name in rule.requires if inputs.frames.get(name) is None]
    if missing:
        if skipped is not None:
            skipped.append((rule_id, ", ".join(f"{m}.csv" for m in missing) + " absent"))
        return None
    try:
        args = {p: (overrides[p] if overrides and p in overrides else inputs.get(p)) for p in rule.params}
    except MissingInput as exc:
        if skipped is not None:
            skipped.append((rule_id, str(exc)))
        return None
    started = time.perf_counter()
    out = finalise(rule, rule.func(**args))
    inputs.seconds[rule_id] = inputs.seconds.get(rule_id, 0.0) + time.perf_counter() - started
    return out


def check_no_full_numbers(frames: Mapping[str, pd.DataFrame | None]) -> None:
    """Refuse to ship a frame holding a full individual number (findings.md: workers see keyed
    hashes and last four only)."""
    for name, frame in frames.items():
        if frame is None:
            continue
        bad = [c for c in frame.columns if c in FULL_NUMBER_COLUMNS]
        if bad:
            raise ValueError(f"{name} frame holds {bad}: full individual numbers never leave the ingest step")


# --- which members' groups cross insurers (computed once on the whole members frame) ------------

def overlap_codes(members: pd.DataFrame) -> np.ndarray:
    """An int64 code per member for its QUAL_OVERLAP group (−1: cannot pair: no last4 or birth)."""
    usable = (members["number_last4"].notna() & members["birth_date"].notna()).to_numpy(bool)
    combined = np.zeros(len(members), dtype=np.int64)
    for column in OVERLAP_KEY:
        values = members[column].astype("string").fillna("\x00NA")
        codes, uniques = pd.factorize(values)
        combined = combined * (len(uniques) + 1) + codes
    return np.where(usable, combined, -1)


def crossing(groups: np.ndarray, insurers: np.ndarray) -> np.ndarray:
    """Mask of members whose group (code ≥ 0) holds members of two or more insurers."""
    valid = groups >= 0
    if not valid.any():
        return np.zeros(len(groups), dtype=bool)
    frame = pd.DataFrame({"g": groups[valid], "i": insurers[valid]})
    spans = frame.groupby("g")["i"].nunique()
    out = np.zeros(len(groups), dtype=bool)
    out[valid] = (spans.reindex(frame["g"]).to_numpy() > 1)
    return out


def cross_masks(members: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(members in a cross-insurer QUAL_OVERLAP group, members in a cross-insurer number group)."""
    insurers = members["insurer_number"].astype("string").to_numpy(dtype=object)
    hashes = members["number_hash"]
    hash_codes = np.where(hashes.notna().to_numpy(), pd.factorize(hashes)[0], -1).astype(np.int64)
    return crossing(overlap_codes(members), insurers), crossing(hash_codes, insurers)


# --- phase 1: one insurer ----------------------------------------------------------------------

@dataclass
class PartitionResult:
    insurer_number: str
    findings: dict[str, pd.DataFrame]
    skipped: list[tuple[str, str]]
    seconds: dict[str, float]
    overlap_slice: dict[str, pd.DataFrame] | None = None    # members + member_resident rows
    number_slice: dict[str, Any] | None = None             # members, verdicts, pairs, settings, model
    local_wrong: pd.DataFrame | None = None                 # wrong holders (KEY) of in-partition groups:
                                                            # the ones MISLINK_SUSPECTED left out here
    n_members: int = 0
    peak_rss_kb: int = 0
    stats: pd.DataFrame | None = None                       # feed statistics of the partition's insurers
    extra: dict[str, Any] = field(default_factory=dict)


def _peak_rss_kb() -> int:
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def evaluate_partition(insurer_number: str, frames, residents: pd.DataFrame | None,
                       as_of, settings: Mapping[str, Any], feed_history: pd.DataFrame | None,
                       overlap_mask: np.ndarray, number_mask: np.ndarray,
                       quarantine: pd.DataFrame | None = None,
                       row_counts: Mapping[str, int] | None = None,
                       resolution: tuple | None = None) -> PartitionResult:
    """Every rule on one partition's rows (residents whole), plus the rows the cross-insurer
    groups need from this partition. ``frames``: the partition's frames, or a callable giving
    them (the in-process runner slices them only when the partition runs, so one partition's
    copy is alive at a time). ``quarantine`` / ``row_counts``: the feed's, for the pipeline's
    statistics that FEED_DRIFT reads. ``resolution``: :func:`resolve_partition`'s result for
    these members and residents, computed earlier (None, or its failure: computed here)."""
    import detectors.rules  # noqa: F401  (registers every rule module on the worker)
    from reconcile.engines.spill import value

    task_started, task_cpu = time.perf_counter(), time.process_time()
    frames = frames() if callable(frames) else frames          # a spill handle or a builder reads them
    residents, quarantine = value(residents), value(quarantine)
    loaded = time.perf_counter() - task_started
    all_frames = {**frames, "residents": residents}
    check_no_full_numbers(all_frames)
    inputs = scan_inputs(all_frames, as_of, settings, feed_history)
    if resolution is not None and resolution[0] is not None:
        inputs.values[RESOLUTION] = resolution[0]
        inputs.seconds.update(resolution[1])
    skipped: list[tuple[str, str]] = []
    findings: dict[str, pd.DataFrame] = {}
    members = frames["members"]
    crossing_numbers = bool(number_mask.any()) and _runs(inputs, SHARED_RULE)
    local_pos = None
    for rule_id in sorted(RULES):
        if rule_id == DRIFT_RULE:
            continue
        if rule_id == MISLINK_RULE and crossing_numbers:
            # Leave out only the wrong holders of this partition's own number groups; the
            # cross-insurer groups' wrong holders are dropped from the findings afterwards.
            shared_pos = inputs.get("shared_numbers")["member_pos"].to_numpy(np.int64)
            local_pos = shared_pos[~number_mask[shared_pos]]
            out = run_rule(inputs, rule_id, skipped,
                           overrides={"shared_numbers": pd.DataFrame({"member_pos": local_pos})})
        else:
            out = run_rule(inputs, rule_id, skipped)
        if out is not None:
            findings[rule_id] = out
    result = PartitionResult(insurer_number, findings, skipped, inputs.seconds, n_members=len(members))
    if overlap_mask.any() and OVERLAP_RULE in findings:
        rows = np.flatnonzero(overlap_mask)
        result.overlap_slice = {"members": members.iloc[rows].reset_index(drop=True),
                                "member_resident": inputs.get("member_resident").iloc[rows].reset_index(drop=True)}
    if SHARED_RULE in findings:
        if local_pos is None:
            shared_pos = inputs.get("shared_numbers")["member_pos"].to_numpy(np.int64)
            local_pos = shared_pos[~number_mask[shared_pos]] if len(shared_pos) else shared_pos
        result.local_wrong = members[KEY].iloc[local_pos].reset_index(drop=True)
        if number_mask.any():
            result.number_slice = resolution_slice(inputs.get("resolution"), np.flatnonzero(number_mask))
    del inputs                                   # the resolution goes before drift runs
    if DRIFT_RULE in RULES:
        from reconcile.pipeline import pipeline_statistics

        notation = findings.get(NOTATION_RULE, empty_findings())
        extra = pipeline_statistics(members, notation, quarantine if quarantine is not None else
                                    pd.DataFrame(columns=["file", "line"]), row_counts or {})
        findings[DRIFT_RULE], drift_skipped, drift_seconds, stats = drift_partition(
            frames, as_of, settings, feed_history, extra)
        skipped.extend(drift_skipped)
        for k, v in drift_seconds.items():
            result.seconds[k] = result.seconds.get(k, 0.0) + v
        result.stats = pd.concat([stats, extra], ignore_index=True)
    result.peak_rss_kb = _peak_rss_kb()
    # Where a task's time goes (the plan reports them per partition): reading its frames, in all
    # (wall), and CPU of the process running it.
    result.extra.update({"load_seconds": loaded, "wall_seconds": time.perf_counter() - task_started,
                         "cpu_seconds": time.process_time() - task_cpu})
    return result


RESOLUTION = "resolution"


def resolve_partition(frames, residents, settings: Mapping[str, Any]) -> tuple:
    """The ``resolution`` provider on one partition's members and the residents, computed before
    the rest of the partition's frames exist (the Dask engine starts it while the feed is still
    read). Exactly the provider's call through :class:`Inputs`, on frames read back from the
    same files the partition's task reads; ``(None, {})`` when it needs anything else (then the
    partition computes it itself)."""
    import detectors.rules  # noqa: F401
    from reconcile.engines.spill import value

    # It runs while the main process reads the feed — the longer path: it yields the CPU to it
    # (measured at 1M on 2 cores: at equal priority the two workers' resolutions stretched the
    # read from 36 to 86 s). Linux: the priority of this thread, which is the task's.
    # restore_priorities() gives it back once the read is done (DaskEngine.evaluate).
    import threading

    tid = threading.get_native_id()
    before = _lower_priority(tid, EARLY_NICE)
    cpu = time.process_time()
    try:
        frames = frames() if callable(frames) else frames
        inputs = Inputs({"members": frames["members"], "residents": value(residents)},
                        {"settings": dict(settings or {})})
        try:
            found = inputs.get(RESOLUTION)
        except (KeyError, MissingInput):
            return None, {}
        seconds = {f"early:{k}": v for k, v in inputs.seconds.items()}
        seconds["early:cpu"] = time.process_time() - cpu        # of the worker process
        return found, seconds
    finally:
        _restore_priority(tid, _NICED.pop(tid, None))


#: How much lower the early resolution runs while the feed is read (``nice`` steps).
EARLY_NICE = 10
_NICED: dict[int, int] = {}      # thread id → its priority before (this worker process)


def _lower_priority(tid: int, steps: int) -> int | None:
    import os
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(before + steps, 19))
    except (OSError, AttributeError):
        return None
    _NICED[tid] = before
    return before


def _restore_priority(tid: int, before: int | None) -> None:
    import os
    if before is None:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, tid, before)
    except OSError:
        pass        # raising it back needs privileges: the worker's thread stays polite


def restore_priorities() -> int:
    """Run on every worker when the feed is read: the early resolutions still running get their
    priority back (the main process waits for them now). Returns how many were raised."""
    raised = 0
    for tid, before in list(_NICED.items()):
        _restore_priority(tid, before)
        _NICED.pop(tid, None)
        raised += 1
    return raised


def _runs(inputs: Inputs, rule_id: str) -> bool:
    """Whether ``rule_id`` is not skipped for a missing feed file."""
    return all(inputs.frames.get(name) is not None for name in RULES[rule_id].requires)


def resolution_slice(res, rows: np.ndarray) -> dict[str, Any]:
    """The resolution restricted to members ``rows`` (positions renumbered 0..len(rows)−1)."""
    remap = np.full(len(res.members), -1, dtype=np.int64)
    remap[rows] = np.arange(len(rows))
    v = res.verdicts
    v = v[remap[v["member_pos"].to_numpy(np.int64)] >= 0].copy()
    v["member_pos"] = remap[v["member_pos"].to_numpy(np.int64)]
    p = res.pairs
    p = p[remap[p["li"].to_numpy(np.int64)] >= 0].copy()
    p["li"] = remap[p["li"].to_numpy(np.int64)]
    return {"members": res.members.iloc[rows].reset_index(drop=True), "verdicts": v.reset_index(drop=True),
            "pairs": p.reset_index(drop=True), "settings": res.settings, "model": res.model}


# --- phase 2: the groups that cross insurers ---------------------------------------------------

@dataclass
class CrossResult:
    findings: dict[str, pd.DataFrame]
    wrong: pd.DataFrame          # KEY of the wrong holders of cross-insurer shared numbers
    overlap_members: pd.DataFrame
    number_members: pd.DataFrame
    seconds: dict[str, float]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def evaluate_cross(overlap: list[dict], number: list[dict], residents: pd.DataFrame, as_of,
                   settings: Mapping[str, Any], feed_history: pd.DataFrame | None) -> CrossResult:
    """QUAL_OVERLAP and NUMBER_SHARED on the rows of the cross-insurer groups gathered from every
    partition (``overlap`` / ``number``: the partitions' slices, in partition order)."""
    import detectors.rules  # noqa: F401
    from matchers.resolve import Resolution
    from reconcile.engines.spill import value

    residents = value(residents)
    findings: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    overlap_members = pd.DataFrame(columns=KEY)
    if overlap:
        members = _concat([s["members"] for s in overlap])
        overlap_members = members[KEY]
        inputs = scan_inputs({"members": members, "residents": residents}, as_of, settings, feed_history)
        inputs.values["member_resident"] = _concat([s["member_resident"] for s in overlap])
        findings[OVERLAP_RULE] = run_rule(inputs, OVERLAP_RULE)
        seconds.update(inputs.seconds)
    number_members = pd.DataFrame(columns=KEY)
    wrong = pd.DataFrame(columns=KEY)
    if number:
        members = _concat([s["members"] for s in number])
        number_members = members[KEY]
        offsets = np.cumsum([0] + [len(s["members"]) for s in number])[:-1]
        verdicts = _concat([s["verdicts"].assign(member_pos=s["verdicts"]["member_pos"].to_numpy(np.int64) + o)
                            for s, o in zip(number, offsets)])
        pairs = _concat([s["pairs"].assign(li=s["pairs"]["li"].to_numpy(np.int64) + o) for s, o in zip(number, offsets)])
        res = Resolution(verdicts=verdicts, pairs=pairs, members=members, residents=residents,
                         settings=number[0]["settings"], model=number[0]["model"])
        inputs = scan_inputs({"members": members, "residents": residents}, as_of, settings, feed_history)
        inputs.values["resolution"] = res
        findings[SHARED_RULE] = run_rule(inputs, SHARED_RULE)
        shared = inputs.get("shared_numbers")
        wrong = members[KEY].iloc[shared["member_pos"].to_numpy(np.int64)].reset_index(drop=True)
        seconds.update(inputs.seconds)
    return CrossResult(findings, wrong, overlap_members, number_members, seconds)


# --- phase 3: MISLINK_SUSPECTED again where the wrong holders changed ------------------------------

def mislink_again(frames, residents: pd.DataFrame, as_of,
                  settings: Mapping[str, Any], feed_history: pd.DataFrame | None,
                  wrong: pd.DataFrame) -> pd.DataFrame:
    """MISLINK_SUSPECTED on one partition, leaving out exactly the wrong holders ``wrong`` (KEY)."""
    import detectors.rules  # noqa: F401
    from reconcile.engines.spill import value

    frames = frames() if callable(frames) else frames
    residents = value(residents)
    members = frames["members"]
    inputs = scan_inputs({**frames, "residents": residents}, as_of, settings, feed_history)
    pos = np.flatnonzero(key_mask(members, wrong))
    inputs.values["shared_numbers"] = pd.DataFrame({"member_pos": pos.astype(np.int64)})
    out = run_rule(inputs, MISLINK_RULE)
    return empty_findings() if out is None else out


def drop_cross_wrong(findings: pd.DataFrame, wrong: pd.DataFrame) -> pd.DataFrame | None:
    """A partition's MISLINK_SUSPECTED findings without the members in ``wrong`` (KEY: the wrong
    holders the cross-insurer number groups named), or None when that is not the rule's answer
    for the corrected set: a dropped member was the household-swap partner of a kept one."""
    if len(wrong) == 0 or len(findings) == 0:
        return findings
    dropped = key_mask(findings, wrong)
    kept = findings[~dropped]
    partners = kept["evidence"].astype(str)
    named = partners.str.contains('"partner_member_id"', regex=False).to_numpy(bool)
    if named.any():
        import json

        dropped_ids = set(wrong["member_id"].astype(str))
        if any(str(json.loads(e).get("partner_member_id")) in dropped_ids for e in partners[named]):
            return None
    return kept


def key_mask(frame: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Rows of ``frame`` whose (insurer_number, member_id) is among ``keys``."""
    if len(keys) == 0 or len(frame) == 0:
        return np.zeros(len(frame), dtype=bool)
    wanted = pd.MultiIndex.from_arrays([keys[c].astype("string") for c in KEY])
    have = pd.MultiIndex.from_arrays([frame[c].astype("string") for c in KEY])
    return have.isin(wanted)


# --- phase 4: drift and statistics per insurer -----------------------------------------------------

def drift_partition(frames: Mapping[str, pd.DataFrame | None], as_of, settings: Mapping[str, Any],
                    feed_history: pd.DataFrame | None, extra: pd.DataFrame) -> tuple[pd.DataFrame, list, dict, pd.DataFrame]:
    """FEED_DRIFT and the feed statistics of one insurer (``extra``: the pipeline's statistics)."""
    import detectors.rules  # noqa: F401
    from detectors.stats import feed_stats

    inputs = scan_inputs(frames, as_of, {**dict(settings or {}), "feed_stats_extra": extra}, feed_history)
    stats = inputs.values["feed_statistics"] = feed_stats(frames, as_of)
    skipped: list = []
    out = run_rule(inputs, DRIFT_RULE, skipped)
    return (empty_findings() if out is None else out), skipped, inputs.seconds, stats
