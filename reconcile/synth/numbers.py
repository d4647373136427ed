"""個人番号・資格日付の欠陥注入 / number and impossible-date injections (issue #2).

Each injected member is recorded in ``world.truth`` (one row per rule it should raise) and
added to ``world.touched``; members already touched are left alone. The OQS copy receives the
same change, because the insurer registered its own (wrong) data on the intermediary server —
the defect is the insurer's, not a divergence between the two sides.

Patterns
- NUMBER_INVALID: ``typo_single_digit`` (one digit mistyped, check digit fails),
  ``typo_adjacent_swap`` (two neighbouring digits swapped, check fails), ``missing``
  (neither the number nor its last four delivered).
- RESIDENT_NOT_FOUND: ``unknown_valid_number`` (a valid number that nobody in the extract holds).
- NUMBER_SHARED (on the second member only, domain brief §2b): ``family_member_number`` /
  ``other_person_number`` — a second member, a
  different person (other birth date or sex), carries the first member's number; both
  members are recorded, and the second also as MISLINK_SUSPECTED (its number points at
  someone else).
- QUAL_DATE_INVALID: ``acquisition_before_birth``, ``loss_before_acquisition``,
  ``loss_after_as_of`` (a loss at 75 pre-entered before the birthday), ``acquisition_after_as_of``.

Rates: :data:`RATE_PER_10K` per rule, scaled with the member count, at least one each from
2,000 members.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.privacy import check_digit_ok
from reconcile.synth import rules_truth as rt
from reconcile.synth.population import number_strings, unique_bodies
from reconcile.synth.world import World

RATE_PER_10K = {"NUMBER_INVALID": 3.0, "RESIDENT_NOT_FOUND": 2.0, "NUMBER_SHARED": 2.0, "QUAL_DATE_INVALID": 3.0}
MIN_MEMBERS_FOR_ONE = 2_000
DAY = pd.Timedelta(days=1)


def injection_count(rule_id: str, members: int) -> int:
    """How many members get ``rule_id`` injected in a municipality of ``members``."""
    count = int(round(members * RATE_PER_10K[rule_id] / 10_000))
    return max(count, 1) if members >= MIN_MEMBERS_FOR_ONE else count


class _Targets:
    """Eligibility masks computed once per injection run (the world has up to 1M members)."""

    def __init__(self, world: World) -> None:
        M = world.members
        free = np.ones(len(M), dtype=bool)
        if world.touched:
            touched = pd.MultiIndex.from_tuples(list(world.touched))
            free &= ~pd.MultiIndex.from_arrays([M["insurer_number"], M["member_id"]]).isin(touched)
        if "_resident_id" in M:
            # One membership per person: re-enrolled persons legitimately share their number.
            free &= ~M["_resident_id"].duplicated(keep=False).to_numpy()
        self.free = free
        self.active = M["loss_date"].isna().to_numpy()
        self.with_number = M["individual_number"].notna().to_numpy()
        O = world.oqs
        self.oqs_row = dict(zip(zip(O["insurer_number"], O["member_id"]), range(len(O))))
        self.changes: dict[str, dict[int, object]] = {}

    def eligible(self, *, active: bool | None = True, with_number: bool = True) -> np.ndarray:
        """Row positions of members free for injection."""
        ok = self.free.copy()
        if active is True:
            ok &= self.active
        elif active is False:
            ok &= ~self.active
        if with_number:
            ok &= self.with_number
        return np.flatnonzero(ok)


def _set(world: World, targets: _Targets, pos: int, **values) -> None:
    """Queue member field changes (mirrored on the member's OQS row); see :func:`_apply`."""
    for column, value in values.items():
        targets.changes.setdefault(column, {})[pos] = value


def _apply(world: World, targets: _Targets) -> None:
    """Write the queued changes column by column.

    One assignment per column instead of one per cell: under copy-on-write a cell assignment
    on a million-row frame can copy the whole block, which made 1M-member injection take minutes.
    """
    M, O = world.members, world.oqs
    for column, changes in targets.changes.items():
        positions = np.fromiter(changes, dtype=np.int64, count=len(changes))
        for frame, rows in ((M, positions), (O, _oqs_rows(M, targets, positions))):
            if column not in frame.columns:
                continue
            keep = rows >= 0
            new = [v for v, k in zip(changes.values(), keep) if k]
            series = frame[column]
            if pd.api.types.is_datetime64_any_dtype(series.dtype):
                values = series.to_numpy(dtype="datetime64[ns]", copy=True)
                values[rows[keep]] = np.array([np.datetime64("NaT") if v is None else pd.Timestamp(v).to_datetime64()
                                               for v in new], dtype="datetime64[ns]")
                frame[column] = values
            else:
                values = series.to_numpy(dtype=object, copy=True)
                values[rows[keep]] = np.array(new + [None], dtype=object)[:-1]
                frame[column] = pd.Series(values, index=frame.index, dtype=object)
    targets.changes.clear()


def _oqs_rows(M: pd.DataFrame, targets: _Targets, positions: np.ndarray) -> np.ndarray:
    keys = zip(M["insurer_number"].to_numpy()[positions], M["member_id"].to_numpy()[positions])
    return np.array([targets.oqs_row.get(k, -1) for k in keys], dtype=np.int64)


def _record(world: World, pos: int, rule_id: str, pattern: str) -> None:
    M = world.members
    resident = M["_resident_id"].iat[pos] if "_resident_id" in M else None
    world.record(M["insurer_number"].iat[pos], M["member_id"].iat[pos], rule_id, pattern, resident)


def _typo(rng: np.random.Generator, number: str, swap: bool) -> str:
    """A mistyped copy of ``number`` that fails the check digit."""
    digits = list(number)
    for _ in range(200):
        candidate = digits.copy()
        if swap:
            i = int(rng.integers(0, 11))
            if candidate[i] == candidate[i + 1]:
                continue
            candidate[i], candidate[i + 1] = candidate[i + 1], candidate[i]
        else:
            i = int(rng.integers(0, 12))
            candidate[i] = str((int(candidate[i]) + int(rng.integers(1, 10))) % 10)
        text = "".join(candidate)
        if not check_digit_ok(text):
            return text
    raise RuntimeError("no failing typo found")  # pragma: no cover - 98% of typos fail


def _take(rng, pool: np.ndarray, k: int, used: set[int]) -> list[int]:
    """Up to ``k`` random positions of ``pool`` not yet used (rejection sampling: the pools
    are large and ``used`` is small, so this stays O(k) on a 1M-member world)."""
    picked: list[int] = []
    if len(pool) == 0 or k <= 0:
        return picked
    for _ in range(50 * k + 100):
        if len(picked) == k:
            break
        pos = int(pool[rng.integers(0, len(pool))])
        if pos not in used:
            used.add(pos)
            picked.append(pos)
    return picked


def inject(world: World) -> None:
    """Inject NUMBER_INVALID, RESIDENT_NOT_FOUND, NUMBER_SHARED and QUAL_DATE_INVALID cases."""
    rng = world.rng
    M = world.members
    n_members = len(M)
    used: set[int] = set()
    targets = _Targets(world)

    # --- NUMBER_INVALID ---
    patterns = ("typo_single_digit", "typo_adjacent_swap", "missing")
    picked = _take(rng, targets.eligible(), injection_count("NUMBER_INVALID", n_members), used)
    for i, pos in enumerate(picked):
        pattern = patterns[i % len(patterns)] if i < len(patterns) else rng.choice(patterns, p=[0.5, 0.25, 0.25])
        if pattern == "missing":
            _set(world, targets, pos, individual_number=None, individual_number_last4=None)
        else:
            _set(world, targets, pos, individual_number=_typo(rng, M["individual_number"].iat[pos], pattern == "typo_adjacent_swap"))
        # A number failing its check digit belongs to nobody, but it is NUMBER_INVALID only, never
        # RESIDENT_NOT_FOUND beside it (domain brief §2b: one problem, one work item).
        _record(world, pos, "NUMBER_INVALID", str(pattern))

    # --- RESIDENT_NOT_FOUND: a valid number nobody in the extract (or the insurer) holds ---
    picked = _take(rng, targets.eligible(), injection_count("RESIDENT_NOT_FOUND", n_members), used)
    if picked:
        taken = pd.concat([world.residents["individual_number"], M["individual_number"]]).dropna()
        taken_bodies = (taken.str[:11].astype(np.int64)).to_numpy()
        fresh = number_strings(unique_bodies(rng, len(picked), exclude=taken_bodies))
        for pos, number in zip(picked, fresh):
            _set(world, targets, pos, individual_number=number)
            _record(world, pos, "RESIDENT_NOT_FOUND", "unknown_valid_number")

    # --- NUMBER_SHARED: a second, different person carries the first one's number ---
    n_shared = injection_count("NUMBER_SHARED", n_members)
    pool = targets.eligible()
    holders = _take(rng, pool, n_shared, used)
    household = M["household_id"].to_numpy(dtype=object)
    birth = M["birth_date"].to_numpy()
    sex = M["sex"].to_numpy()
    free = pool[np.isin(pool, np.fromiter(used, dtype=np.int64, count=len(used)), invert=True)]
    # Free members ordered by household code: a family is one searchsorted range.
    household_code = pd.factorize(household)[0]
    by_household = free[np.argsort(household_code[free], kind="stable")]
    sorted_codes = household_code[by_household]
    for i, x in enumerate(holders):
        lo, hi = np.searchsorted(sorted_codes, household_code[x], "left"), np.searchsorted(sorted_codes, household_code[x], "right")
        family = by_household[lo:hi] if i % 2 == 0 else []
        family = [p for p in family if p not in used and (birth[p] != birth[x] or sex[p] != sex[x])]
        if family:
            y, pattern = int(rng.choice(family)), "family_member_number"
        else:
            y, pattern = -1, "other_person_number"
            for _ in range(1000):
                p = int(free[rng.integers(0, len(free))])
                if p not in used and household[p] != household[x] and (birth[p] != birth[x] or sex[p] != sex[x]):
                    y = p
                    break
            if y < 0:
                continue
        used.add(y)
        _set(world, targets, y, individual_number=M["individual_number"].iat[x])
        # §2b: NUMBER_SHARED on the holder who is not the number's resident only (suggesting
        # their own resident), no separate MISLINK_SUSPECTED; the rightful holder x is clean
        # but left alone by later injectors.
        _record(world, y, "NUMBER_SHARED", pattern)
        world.touched.add((M["insurer_number"].iat[x], M["member_id"].iat[x]))

    # --- QUAL_DATE_INVALID ---
    as_of = world.as_of
    k = injection_count("QUAL_DATE_INVALID", n_members)
    patterns = ("acquisition_before_birth", "loss_before_acquisition", "loss_after_as_of", "acquisition_after_as_of")
    plan = [patterns[i % len(patterns)] for i in range(k)]  # empty below 2,000 members when k == 0
    trigger = M["_trigger"].to_numpy(dtype=object) if "_trigger" in M else np.full(n_members, "", dtype=object)
    births = M["birth_date"].to_numpy(dtype="datetime64[D]")
    turning_75_soon = np.flatnonzero((rt.kokuho_loss_at_75(births) > np.datetime64(as_of.date()))
                                     & (rt.anniversary(births, 75) <= np.datetime64((as_of + 90 * DAY).date())))
    any_free = targets.eligible(with_number=False)
    born = any_free[trigger[any_free] == "birth"]
    soon = np.intersect1d(any_free, turning_75_soon)
    alone = any_free[~M["household_id"].duplicated(keep=False).to_numpy()[any_free]]
    lost = targets.eligible(active=False, with_number=False)
    for pattern in plan:
        if pattern == "acquisition_before_birth":
            pos = _take(rng, born if len(born) else any_free, 1, used)
            if not pos:
                continue
            pos = pos[0]
            # A year typed wrong on a newborn's enrolment: one year before the birth.
            _set(world, targets, pos, acquisition_date=M["birth_date"].iat[pos] - pd.DateOffset(years=1))
        elif pattern == "loss_before_acquisition":
            pos = _take(rng, lost, 1, used)
            if not pos:
                continue
            pos = pos[0]
            _set(world, targets, pos, loss_date=M["acquisition_date"].iat[pos] - int(rng.integers(1, 400)) * DAY)
        elif pattern == "loss_after_as_of":
            pos = _take(rng, soon if len(soon) else any_free, 1, used)
            if not pos:
                continue
            pos = pos[0]
            if len(soon):
                loss = pd.Timestamp(rt.kokuho_loss_at_75(births[pos:pos + 1])[0])
            else:
                loss = as_of + int(rng.integers(5, 60)) * DAY
            _set(world, targets, pos, loss_date=loss, loss_reason="4" if len(soon) else "9")
        else:  # acquisition_after_as_of: a future enrolment keyed in early
            # Only members alone in their household: leaving the household on as_of would
            # change the others' household income figures (limit categories) as a side effect.
            pos = _take(rng, alone, 1, used)
            if not pos:
                continue
            pos = pos[0]
            _set(world, targets, pos, acquisition_date=as_of + int(rng.integers(3, 45)) * DAY)
        _record(world, pos, "QUAL_DATE_INVALID", pattern)
    _apply(world, targets)
