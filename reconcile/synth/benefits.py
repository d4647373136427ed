"""負担割合・限度額区分・資格日付・カード状況・履歴の欠陥注入 / burden, limit, qualification-date,
card and history injections (issue #4).

The base population is clean (see :mod:`reconcile.synth.population`); this injector breaks a
few members on purpose, records each in ``world.truth`` (one row per rule the member should
raise) and skips members already touched. Where the defect is the insurer's own (a wrong
ratio, a wrong category, a wrong acquisition date) the OQS copy and both histories receive
the same value, because the insurer registered its wrong data online — so only the rule for
that defect fires. Where the defect is a divergence (OQS stale, loss not sent online) only
the online side changes.

Patterns (rule ← pattern):

- BENEFIT_HISTORY_DIVERGENCE + BURDEN_RATIO_OQS_MISMATCH ← ``history_revert_dropped`` (seed
  000: 20% → 30% → 20% over three August 1 re-determinations; online keeps 30%).
- BURDEN_RATIO_OQS_MISMATCH ← ``oqs_ratio_differs``.
- BURDEN_RATIO_RULE ← ``elderly_30_without_income`` (70–74 household with no 現役並み income at
  30%), ``preschool_at_30`` (a preschool child switched to 30% early), ``school_age_still_20``
  (the first school year still at 20%: the April 1 boundary missed), ``seventy_month_early``
  (20% from the birthday month for someone born on the 2nd or later).
- LIMIT_CATEGORY_OQS_MISMATCH ← ``oqs_category_differs``.
- LIMIT_CATEGORY_RULE ← ``under_70_code_on_70_plus``, ``70_plus_code_on_under_70``,
  ``income_band_wrong``.
- QUAL_DATE_IS_ISSUE_DATE ← ``issue_date_as_acquisition`` (move-in earlier),
  ``issue_date_as_acquisition_newborn`` (birth earlier).
- QUAL_DATE_OQS_MISMATCH ← ``oqs_acquisition_differs``, ``oqs_lost_insurer_active``.
- QUAL_LOSS_NOT_LINKED ← ``loss_not_sent_online``.
- QUAL_ACTIVE_AFTER_EXIT ← ``deceased_still_active``, ``moved_out_still_active``, ``loss_a_month_late``.
- QUAL_ACTIVE_PAST_AGE_LIMIT ← ``still_active_after_75``.
- QUAL_OVERLAP ← ``old_qualification_left_valid`` (a second member record for the same person,
  the old one never lost: one number carries two members; both members recorded),
  ``old_qualification_other_insurer`` (the second record in a 国保組合 of the same feed),
  ``old_qualification_last4_only`` (the second record carries only the last four digits); the
  second record's kana is half-width now and then.
- KAKUNINSHO_NOT_ISSUED ← ``not_registered_no_kakuninsho``, ``card_returned_no_kakuninsho``,
  ``ecert_expired_no_kakuninsho``, ``requested_no_kakuninsho``, ``kakuninsho_expired`` (the
  latest 資格確認書's ``kakuninsho_valid_until`` has passed). Clean traps (no truth row): a valid
  資格確認書 issued before the card was returned, and one valid to 2 years on beside a
  cancellation code 2 whose certificate expiry lies in the future.

FEED_DRIFT is feed-level (it needs earlier feeds), so it is not injected per member; the
detector-quality benchmark checks it on a history it builds.

Rates: :data:`RATE_PER_10K` per pattern, at least :data:`MIN_PER_PATTERN` from 2,000 members.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synth import rules_truth as rt
from reconcile.synth.world import World

DAY = pd.Timedelta(days=1)
PAPER_CARDS_STOPPED = pd.Timestamp("2024-12-02")
OLD_CARDS_LAST_VALID = pd.Timestamp("2025-12-01")
MIN_MEMBERS_FOR_MINIMUM = 2_000
MIN_PER_PATTERN = 2

# pattern -> (rule ids it must raise, rate per 10,000 members)
PATTERNS: dict[str, tuple[tuple[str, ...], float]] = {
    "history_revert_dropped": (("BENEFIT_HISTORY_DIVERGENCE", "BURDEN_RATIO_OQS_MISMATCH"), 3.0),
    "oqs_ratio_differs": (("BURDEN_RATIO_OQS_MISMATCH",), 1.5),
    "elderly_30_without_income": (("BURDEN_RATIO_RULE",), 2.0),
    "preschool_at_30": (("BURDEN_RATIO_RULE",), 1.0),
    "school_age_still_20": (("BURDEN_RATIO_RULE",), 1.0),
    "seventy_month_early": (("BURDEN_RATIO_RULE",), 1.0),
    "oqs_category_differs": (("LIMIT_CATEGORY_OQS_MISMATCH",), 1.5),
    "under_70_code_on_70_plus": (("LIMIT_CATEGORY_RULE",), 1.0),
    "70_plus_code_on_under_70": (("LIMIT_CATEGORY_RULE",), 1.0),
    "income_band_wrong": (("LIMIT_CATEGORY_RULE",), 1.0),
    "issue_date_as_acquisition": (("QUAL_DATE_IS_ISSUE_DATE",), 2.0),
    "issue_date_as_acquisition_newborn": (("QUAL_DATE_IS_ISSUE_DATE",), 1.0),
    "oqs_acquisition_differs": (("QUAL_DATE_OQS_MISMATCH",), 1.5),
    "oqs_lost_insurer_active": (("QUAL_DATE_OQS_MISMATCH",), 1.0),
    "loss_not_sent_online": (("QUAL_LOSS_NOT_LINKED",), 2.0),
    "deceased_still_active": (("QUAL_ACTIVE_AFTER_EXIT",), 1.5),
    "moved_out_still_active": (("QUAL_ACTIVE_AFTER_EXIT",), 1.5),
    "loss_a_month_late": (("QUAL_ACTIVE_AFTER_EXIT",), 1.0),
    "still_active_after_75": (("QUAL_ACTIVE_PAST_AGE_LIMIT",), 2.0),
    "old_qualification_left_valid": (("QUAL_OVERLAP",), 2.0),
    "old_qualification_other_insurer": (("QUAL_OVERLAP",), 1.0),
    "old_qualification_last4_only": (("QUAL_OVERLAP",), 1.0),
    "not_registered_no_kakuninsho": (("KAKUNINSHO_NOT_ISSUED",), 1.5),
    "card_returned_no_kakuninsho": (("KAKUNINSHO_NOT_ISSUED",), 1.0),
    "ecert_expired_no_kakuninsho": (("KAKUNINSHO_NOT_ISSUED",), 1.0),
    "requested_no_kakuninsho": (("KAKUNINSHO_NOT_ISSUED",), 1.0),
    "kakuninsho_expired": (("KAKUNINSHO_NOT_ISSUED",), 1.5),
}

# A category of the other age band, for the family mismatches.
TO_UNDER_70 = {"G3": "A", "G2": "I", "G1": "U", "IP": "E", "L2": "O", "L1": "O"}
TO_70_PLUS = {"A": "G3", "I": "G2", "U": "G1", "E": "IP", "O": "L2"}
# Under-70 categories moved to a band the household's 旧ただし書き所得 cannot reach (≤ 6.0M → ア).
WRONG_BAND = {"U": "A", "E": "I"}


def injection_count(pattern: str, members: int) -> int:
    """How many members receive ``pattern`` in a municipality of ``members``."""
    count = int(round(members * PATTERNS[pattern][1] / 10_000))
    return max(count, MIN_PER_PATTERN) if members >= MIN_MEMBERS_FOR_MINIMUM else count


class _Injector:
    """Shared state of one injection run: the world, today, and member selections."""

    def __init__(self, world: World):
        self.world = world
        self.rng = world.rng
        self.today = pd.Timestamp(world.as_of).normalize()
        self.day = np.datetime64(self.today.date(), "D")
        M = world.members
        self.birth = M["birth_date"].to_numpy(dtype="datetime64[D]")
        self.band = rt.age_band(self.birth, self.day)
        self._member_keys: np.ndarray | None = None
        self._frame_keys: dict[str, tuple[pd.DataFrame, pd.Index]] = {}

    # --- keys (one string per member: insurer + member id; cheap to build and to look up) ----
    @staticmethod
    def _key(frame: pd.DataFrame) -> np.ndarray:
        insurer = frame["insurer_number"].to_numpy(dtype=object)
        member = frame["member_id"].to_numpy(dtype=object)
        try:
            # Plain str cells (the world's text columns): object-array concatenation, no Arrow detour.
            return insurer + "\x1f" + member
        except TypeError:
            return (frame["insurer_number"].astype(str) + "\x1f" + frame["member_id"].astype(str)).to_numpy(dtype=object)

    def member_keys(self) -> np.ndarray:
        if self._member_keys is None or len(self._member_keys) != len(self.world.members):
            self._member_keys = self._key(self.world.members)
        return self._member_keys

    def frame_keys(self, name: str) -> pd.Index:
        """Keys of ``world.<name>`` (oqs, benefit_history, card_status), cached until the frame is replaced."""
        frame = getattr(self.world, name)
        cached = self._frame_keys.get(name)
        if cached is None or cached[0] is not frame or len(cached[1]) != len(frame):
            cached = (frame, pd.Index(self._key(frame)))
            self._frame_keys[name] = cached
        return cached[1]

    # --- selection -------------------------------------------------------------------------
    def _cached(self, name: str, build):
        """Per-member array cached while ``world.members`` is the same frame of the same length."""
        M = self.world.members
        cache = self.__dict__.setdefault("_member_cache", {})
        hit = cache.get(name)
        if hit is None or hit[0] is not M or len(hit[1]) != len(M):
            hit = (M, build())
            cache[name] = hit
        return hit[1]

    def _touched_mask(self) -> np.ndarray:
        """Members in ``world.touched``, updated incrementally (only keys added since last call)."""
        M = self.world.members
        state = self.__dict__.get("_touched_state")
        if state is None or state[0] is not M or len(state[2]) != len(M) or not state[1] <= self.world.touched:
            state = (M, set(), np.zeros(len(M), dtype=bool), pd.Index(self.member_keys()))
        seen, mask, index = state[1], state[2], state[3]
        new = self.world.touched - seen
        if new:
            keys = [f"{i}\x1f{m}" for i, m in new]
            if index.is_unique:
                pos = index.get_indexer(keys)
                mask[pos[pos >= 0]] = True
            else:
                mask |= index.isin(keys)
            seen |= new
        self._touched_state = state
        return mask
    def free(self, *, active: bool | None = True, with_number: bool = False) -> np.ndarray:
        """Boolean mask of members free for injection (untouched, one membership per person)."""
        M = self.world.members
        ok = ~self._touched_mask()
        if "_resident_id" in M:
            ok &= ~self._cached("multi_row", lambda: M["_resident_id"].duplicated(keep=False).to_numpy())
        if active is True:
            ok &= M["loss_date"].isna().to_numpy()
        elif active is False:
            ok &= M["loss_date"].notna().to_numpy()
        if with_number:
            ok &= M["individual_number"].notna().to_numpy()
        return ok

    def pick(self, mask: np.ndarray, pattern: str, *, one_per_household: bool = True) -> np.ndarray:
        """Random row positions among ``mask`` for ``pattern`` (at most one per household)."""
        M = self.world.members
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return rows
        rows = self.rng.permutation(rows)
        if one_per_household and "household_id" in M:
            codes = self._cached("household_codes", lambda: pd.factorize(
                M["household_id"].to_numpy(dtype=object).astype(str))[0])
            _, first = np.unique(codes[rows], return_index=True)
            rows = rows[np.sort(first)]
        return np.sort(rows[: injection_count(pattern, len(M))])

    def record(self, rows: np.ndarray, pattern: str) -> None:
        M = self.world.members
        resident = M["_resident_id"] if "_resident_id" in M else pd.Series(None, index=M.index)
        for pos in rows:
            for rule_id in PATTERNS[pattern][0]:
                self.world.record(M["insurer_number"].iat[pos], M["member_id"].iat[pos], rule_id, pattern,
                                  resident.iat[pos])

    # --- edits -----------------------------------------------------------------------------
    def keys(self, rows: np.ndarray) -> np.ndarray:
        return self.member_keys()[rows]

    def positions(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``world.<name>`` of the members ``rows`` (and which of ``rows`` each is)."""
        index = self.frame_keys(name)
        wanted = pd.Index(self.keys(rows))
        hit = np.flatnonzero(index.isin(wanted))
        which = wanted.get_indexer(index[hit])
        return hit, which

    def set_members(self, rows: np.ndarray, column: str, values) -> None:
        M = self.world.members
        M.loc[M.index[rows], column] = values

    def set_oqs(self, rows: np.ndarray, column: str, values) -> None:
        """Set ``column`` on the OQS rows of members ``rows`` (values aligned with ``rows``)."""
        O = self.world.oqs
        if O.empty or column not in O.columns or len(rows) == 0:
            return
        values = np.asarray(values if np.ndim(values) else [values] * len(rows), dtype=object)
        hit, which = self.positions("oqs", rows)
        if len(hit):
            O.loc[O.index[hit], column] = pd.Series(values[which]).astype(O[column].dtype, errors="ignore").to_numpy()

    def set_both(self, rows: np.ndarray, column: str, values) -> None:
        self.set_members(rows, column, values)
        self.set_oqs(rows, column, values)

    def set_current_history(self, rows: np.ndarray, item: str, values, sources=("insurer", "oqs")) -> None:
        """Give the members' latest history period of ``item`` the new value on ``sources``."""
        B = self.world.benefit_history
        if B.empty or len(rows) == 0:
            return
        values = np.asarray(values if np.ndim(values) else [values] * len(rows), dtype=object).astype(str)
        hit, which = self.positions("benefit_history", rows)
        sub = B.iloc[hit]
        mine = ((sub["item"] == item) & sub["source"].isin(sources)).to_numpy()
        hit, which = hit[mine], which[mine]
        sub = B.iloc[hit].assign(_which=which).sort_values("valid_from")
        latest = sub.groupby(["source", "_which"], sort=False).tail(1)
        B.loc[latest.index, "value"] = values[latest["_which"].to_numpy()]

    def resident_mask(self, rows: np.ndarray) -> np.ndarray:
        M, R = self.world.members, self.world.residents
        return R["resident_id"].isin(M["_resident_id"].to_numpy()[rows]).to_numpy()

    # --- household figures (for picking members whose change is unambiguous) -----------------
    def household_frame(self) -> pd.DataFrame:
        M = self.world.members
        active = M["loss_date"].isna().to_numpy()
        elderly = (self.band == rt.ELDERLY) & active
        frame = pd.DataFrame({
            "household": M["household_id"].astype(str).to_numpy(),
            "elderly_taxable": np.where(elderly, M["taxable_income"].to_numpy(dtype=float), np.nan),
            "kyu": np.where(active, M["kyu_tadashigaki_income"].to_numpy(dtype=float), 0.0),
            "exempt": np.where(active, M["resident_tax_exempt"].to_numpy(dtype=bool), True),
        })
        frame["kyu_missing"] = np.isnan(frame["kyu"].to_numpy())
        g = frame.groupby("household")
        kyu_sum = g["kyu"].transform("sum").to_numpy().copy()
        kyu_sum[g["kyu_missing"].transform("any").to_numpy(bool)] = np.nan
        return pd.DataFrame({
            "elderly_max_taxable": g["elderly_taxable"].transform("max").to_numpy(),
            "kyu_sum": kyu_sum,
            "all_exempt": g["exempt"].transform("all").to_numpy(dtype=bool),
        }, index=M.index)


def _last_august_first(day: pd.Timestamp) -> pd.Timestamp:
    year = day.year if day.month >= 8 else day.year - 1
    return pd.Timestamp(year=year, month=8, day=1)


def _history_revert(inj: _Injector) -> None:
    """Seed 000: insurer 20% → 30% → 20% on three August 1s; online keeps 30% after the revert."""
    W, M = inj.world, inj.world.members
    B = W.benefit_history
    if B.empty:
        return
    r0 = _last_august_first(inj.today)
    r1, r2 = r0 - pd.DateOffset(years=1), r0 - pd.DateOffset(years=2)
    seventy = rt.seventy_start(inj.birth)
    mask = (inj.free() & (inj.band == rt.ELDERLY) & (M["burden_ratio"].to_numpy() == 20)
            & (seventy <= np.datetime64(r2.date(), "D"))
            & (M["acquisition_date"] <= r2).to_numpy())
    rows = inj.pick(mask, "history_revert_dropped")
    if len(rows) == 0:
        return
    keys = zip(M["insurer_number"].to_numpy()[rows], M["member_id"].to_numpy()[rows])
    ratio_rows = inj.frame_keys("benefit_history").isin(inj.keys(rows)) & (B["item"] == "burden_ratio").to_numpy()
    kept = B.loc[ratio_rows & (B["valid_from"] < r2).to_numpy()].copy()
    kept["valid_to"] = kept["valid_to"].where(kept["valid_to"].notna() & (kept["valid_to"] < r2), r2 - DAY)
    new = []
    for insurer_number, member_id in keys:
        base = {"insurer_number": insurer_number, "member_id": member_id, "item": "burden_ratio"}
        new += [
            {**base, "source": "insurer", "value": "20", "valid_from": r2, "valid_to": r1 - DAY},
            {**base, "source": "insurer", "value": "30", "valid_from": r1, "valid_to": r0 - DAY},
            {**base, "source": "insurer", "value": "20", "valid_from": r0, "valid_to": pd.NaT},
            # The aggregation system merged the third entry with the first and kept sending 30%.
            {**base, "source": "oqs", "value": "20", "valid_from": r2, "valid_to": r1 - DAY},
            {**base, "source": "oqs", "value": "30", "valid_from": r1, "valid_to": pd.NaT},
        ]
    added = pd.DataFrame(new)[B.columns]
    added["valid_from"] = added["valid_from"].astype(B["valid_from"].dtype)
    added["valid_to"] = added["valid_to"].astype(B["valid_to"].dtype)
    keep_rows = ratio_rows & (B["valid_from"] < r2).to_numpy()
    old_keys = inj.frame_keys("benefit_history").to_numpy()
    W.benefit_history = pd.concat([B.loc[~ratio_rows], kept, added], ignore_index=True)
    # The new frame's keys are the kept rows' keys plus the added rows' (no 5M-row rebuild).
    inj._frame_keys["benefit_history"] = (W.benefit_history, pd.Index(np.concatenate(
        [old_keys[~ratio_rows], old_keys[keep_rows], inj._key(added)])))
    inj.set_oqs(rows, "burden_ratio", 30)
    inj.record(rows, "history_revert_dropped")


def _oqs_ratio(inj: _Injector) -> None:
    M = inj.world.members
    mask = inj.free() & M["burden_ratio"].isin([20, 30]).to_numpy()
    rows = inj.pick(mask, "oqs_ratio_differs")
    other = np.where(M["burden_ratio"].to_numpy()[rows] == 30, 20, 30)
    inj.set_oqs(rows, "burden_ratio", other)
    inj.record(rows, "oqs_ratio_differs")


def _set_ratio(inj: _Injector, rows: np.ndarray, ratio: int, pattern: str) -> None:
    """The insurer's own wrong ratio: master, online copy and both histories agree on it."""
    inj.set_both(rows, "burden_ratio", ratio)
    inj.set_current_history(rows, "burden_ratio", str(ratio))
    inj.record(rows, pattern)


def _ratio_rules(inj: _Injector) -> None:
    M = inj.world.members
    hh = inj.household_frame()
    ratio = M["burden_ratio"].to_numpy()
    # 70–74 at 30% although no 70–74 member of the household reaches 1.45M (all known).
    poor = (hh["elderly_max_taxable"] < rt.GENEKI_TAXABLE).to_numpy()
    rows = inj.pick(inj.free() & (inj.band == rt.ELDERLY) & (ratio == 20) & poor, "elderly_30_without_income")
    _set_ratio(inj, rows, 30, "elderly_30_without_income")
    # A preschool child already at 30%.
    rows = inj.pick(inj.free() & (inj.band == rt.PRESCHOOL) & (ratio == 20), "preschool_at_30")
    _set_ratio(inj, rows, 30, "preschool_at_30")
    # The first school year still at 20%: preschool ended within the last year.
    ended = rt.preschool_end(inj.birth)
    recent = (ended < inj.day) & (ended >= inj.day - np.timedelta64(365, "D"))
    rows = inj.pick(inj.free() & (inj.band == rt.WORKING) & (ratio == 30) & recent, "school_age_still_20")
    _set_ratio(inj, rows, 20, "school_age_still_20")
    # Born on the 2nd or later, 20% from the birthday month: reaches 70 this month, status from next month.
    start = rt.seventy_start(inj.birth)
    month = inj.day.astype("datetime64[M]")
    born_on_first = pd.DatetimeIndex(inj.birth).day.to_numpy() == 1
    early = (start.astype("datetime64[M]") == month + 1) & ~born_on_first
    rows = inj.pick(inj.free() & (inj.band == rt.WORKING) & (ratio == 30) & early, "seventy_month_early")
    _set_ratio(inj, rows, 20, "seventy_month_early")


def _limit_rules(inj: _Injector) -> None:
    M = inj.world.members
    cat = M["limit_category"].astype(object).to_numpy()
    hh = inj.household_frame()

    rows = inj.pick(inj.free() & pd.Series(cat).isin(["A", "I", "U", "E", "O"]).to_numpy(), "oqs_category_differs")
    other = np.where(cat[rows] == "E", "U", "E")
    inj.set_oqs(rows, "limit_category", other)
    inj.record(rows, "oqs_category_differs")

    for pattern, band_mask, mapping in (
            ("under_70_code_on_70_plus", inj.band == rt.ELDERLY, TO_UNDER_70),
            ("70_plus_code_on_under_70", inj.band == rt.WORKING, TO_70_PLUS)):
        ok = pd.Series(cat).isin(list(mapping)).to_numpy()
        rows = inj.pick(inj.free() & band_mask & ok, pattern)
        new = np.array([mapping[c] for c in cat[rows]], dtype=object)
        inj.set_both(rows, "limit_category", new)
        inj.set_current_history(rows, "limit_category", new)
        inj.record(rows, pattern)

    # Household income known and ≤ 6.0M, category moved to a band it cannot reach.
    known = np.isfinite(hh["kyu_sum"].to_numpy()) & (hh["kyu_sum"].to_numpy() <= 6_000_000) & ~hh["all_exempt"].to_numpy()
    ok = pd.Series(cat).isin(list(WRONG_BAND)).to_numpy()
    rows = inj.pick(inj.free() & (inj.band == rt.WORKING) & ok & known, "income_band_wrong")
    new = np.array([WRONG_BAND[c] for c in cat[rows]], dtype=object)
    inj.set_both(rows, "limit_category", new)
    inj.set_current_history(rows, "limit_category", new)
    inj.record(rows, "income_band_wrong")


def _issue_date(inj: _Injector) -> None:
    """資格適用日 = 交付日: acquisition overwritten by the card issue date, after the real trigger."""
    M, R = inj.world.members, inj.world.residents
    moved_in = pd.Series(R["moved_in_date"].to_numpy(), index=R["resident_id"].to_numpy())
    resident_birth = pd.Series(R["birth_date"].to_numpy(), index=R["resident_id"].to_numpy())
    rid = M["_resident_id"].to_numpy()
    res_moved_in = moved_in.reindex(rid).to_numpy()
    res_birth = resident_birth.reindex(rid).to_numpy()
    acq = M["acquisition_date"].to_numpy()
    issue = M["card_issue_date"].to_numpy()
    lag = (issue - acq) / np.timedelta64(1, "D")
    base = inj.free(with_number=True) & (lag >= 1) & (lag <= 60) & (issue <= np.datetime64(inj.today))
    newborn = res_moved_in == res_birth
    for pattern, mask in (("issue_date_as_acquisition", base & (res_moved_in == acq) & ~newborn),
                          ("issue_date_as_acquisition_newborn", base & (res_birth == acq) & newborn)):
        rows = inj.pick(mask, pattern)
        inj.set_both(rows, "acquisition_date", M["card_issue_date"].to_numpy()[rows])
        inj.record(rows, pattern)


def _oqs_dates(inj: _Injector) -> None:
    M = inj.world.members
    acq = M["acquisition_date"]
    rows = inj.pick(inj.free() & (acq <= inj.today - pd.Timedelta(days=90)).to_numpy(), "oqs_acquisition_differs")
    inj.set_oqs(rows, "acquisition_date", (acq.iloc[rows] + pd.Timedelta(days=31)).to_numpy())
    inj.record(rows, "oqs_acquisition_differs")
    # Online shows a loss the insurer never had: the patient looks uninsured at the counter.
    rows = inj.pick(inj.free() & (acq <= inj.today - pd.Timedelta(days=90)).to_numpy(), "oqs_lost_insurer_active")
    inj.set_oqs(rows, "loss_date", np.full(len(rows), (inj.today - pd.Timedelta(days=20)).to_datetime64()))
    inj.record(rows, "oqs_lost_insurer_active")
    # Lost by the insurer, never sent online.
    lost = inj.free(active=False) & (M["loss_date"] <= inj.today).to_numpy()
    rows = inj.pick(lost, "loss_not_sent_online")
    inj.set_oqs(rows, "loss_date", np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]"))
    inj.record(rows, "loss_not_sent_online")


def _exits(inj: _Injector) -> None:
    W = inj.world
    M, R = W.members, W.residents
    acq = M["acquisition_date"]
    old_enough = (acq <= inj.today - pd.Timedelta(days=120)).to_numpy()
    for pattern, status in (("deceased_still_active", "deceased"), ("moved_out_still_active", "moved_out")):
        rows = inj.pick(inj.free(with_number=True) & old_enough, pattern)
        if len(rows) == 0:
            continue
        days_ago = inj.rng.integers(10, 90, len(rows))
        event = inj.today - pd.to_timedelta(days_ago, unit="D")
        by_resident = pd.Series(event.to_numpy(), index=M["_resident_id"].to_numpy()[rows])
        hit = inj.resident_mask(rows)
        R.loc[hit, "status"] = status
        R.loc[hit, "status_date"] = by_resident.reindex(R.loc[hit, "resident_id"].to_numpy()).to_numpy()
        inj.record(rows, pattern)
    # Moved out and lost a month after the day after (capped at as_of so the member stays lost).
    moved = (M["loss_reason"] == "1").fillna(False).to_numpy()
    loss = M["loss_date"]
    rows = inj.pick(inj.free(active=False, with_number=True) & moved
                    & (loss <= inj.today - pd.Timedelta(days=5)).to_numpy(), "loss_a_month_late")
    late = np.minimum((loss.iloc[rows] + pd.Timedelta(days=30)).to_numpy(), inj.today.to_datetime64())
    inj.set_both(rows, "loss_date", late)
    inj.record(rows, "loss_a_month_late")


def _past_75(inj: _Injector) -> None:
    """Lost at 75 by the insurer's rule, but the loss never entered: still active, online too."""
    M = inj.world.members
    latest = rt.kokuho_loss_at_75(inj.birth)
    turned = (M["loss_reason"] == "4").fillna(False).to_numpy() & (latest < np.datetime64(inj.today.date(), "D") - 1)
    rows = inj.pick(inj.free(active=False) & turned, "still_active_after_75")
    inj.set_both(rows, "loss_date", np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]"))
    inj.set_both(rows, "loss_reason", None)
    inj.record(rows, "still_active_after_75")


OVERLAP_PATTERNS = ("old_qualification_left_valid", "old_qualification_other_insurer", "old_qualification_last4_only")


def _other_insurer(insurer_number: str) -> str:
    """An 8-digit 国保組合 number beside a municipality's 6-digit one (one feed, two insurers)."""
    return "01" + str(insurer_number)[-6:]


def _overlap(inj: _Injector) -> None:
    """A second member record for the same person while the old one stays valid.

    Three shapes (domain brief §1, §2a, §6): the second record in the same insurer; in a
    国保組合 delivered in the same feed; carrying only the last four digits of the number. The
    second record is written in another notation now and then (half-width kana, a full-width
    space): still the same person. Both records are in the truth.
    """
    W = inj.world
    M = W.members
    acq = M["acquisition_date"]
    old_enough = (acq <= inj.today - pd.Timedelta(days=400)).to_numpy()
    # The other-insurer copy is a household of its own: only working-age members (30%
    # whatever the income) keep their ratio and category right there.
    working = inj.band == rt.WORKING
    picks = {}
    for pattern in OVERLAP_PATTERNS:
        mask = inj.free(with_number=True) & old_enough
        if pattern == "old_qualification_other_insurer":
            mask &= working
        picks[pattern] = inj.pick(mask, pattern)
        inj.record(picks[pattern], pattern)   # the first records' QUAL_OVERLAP rows; keeps the next pattern off them
    copies = []
    for pattern, rows in picks.items():
        if len(rows) == 0:
            continue
        dup = M.iloc[rows].copy()
        dup["member_id"] = dup["member_id"].astype(str) + "-R"
        new_acq = inj.today - pd.to_timedelta(inj.rng.integers(60, 300, len(rows)), unit="D")
        dup["acquisition_date"] = new_acq.to_numpy()
        dup["card_issue_date"] = (new_acq + pd.Timedelta(days=7)).to_numpy()
        # Income belongs to the person once: the copy carries none so household sums stay right.
        dup["taxable_income"] = 0.0
        dup["kyu_tadashigaki_income"] = 0.0
        if pattern == "old_qualification_other_insurer":
            dup["insurer_number"] = dup["insurer_number"].map(_other_insurer)
            dup["insurer_type"] = "kumiai"
            dup["limit_category"] = None   # its household there is the copy alone: not delivered
        elif pattern == "old_qualification_last4_only":
            dup["individual_number_last4"] = dup["individual_number"].str[-4:]
            dup["individual_number"] = None
        half = inj.rng.random(len(dup)) < 0.5
        if half.any():
            import jaconv

            dup.loc[dup.index[half], "name_kana"] = [jaconv.z2h(str(v), kana=True, digit=False, ascii=False)
                                                     for v in dup.loc[dup.index[half], "name_kana"]]
            dup.loc[dup.index[half], "name_kanji"] = dup.loc[dup.index[half], "name_kanji"].str.replace(" ", "\u3000")
        copies.append((pattern, rows, dup))
    if not copies:
        return
    added = pd.concat([dup for _, _, dup in copies])
    W.members = pd.concat([M, added], ignore_index=True)
    if not W.oqs.empty:
        W.oqs = pd.concat([W.oqs, added[[c for c in W.oqs.columns if c in added.columns]]], ignore_index=True)
    for pattern, rows, dup in copies:
        for insurer_number, member_id, resident in zip(dup["insurer_number"], dup["member_id"],
                                                        dup.get("_resident_id", pd.Series(None, index=dup.index))):
            W.record(insurer_number, member_id, "QUAL_OVERLAP", pattern, resident)


def _cards(inj: _Injector) -> None:
    W = inj.world
    C = W.card_status
    if C.empty:
        return
    M = W.members
    # Card-status row of each member (−1 = none): status files cover active members only.
    status_row = inj.frame_keys("card_status").get_indexer(pd.Index(inj.member_keys()))
    has_row = status_row >= 0
    at = np.where(has_row, status_row, 0)

    def column(name: str) -> np.ndarray:
        return C[name].to_numpy()[at]

    registered = has_row & pd.Series(column("registered")).fillna(False).astype(bool).to_numpy()
    plain = (has_row & pd.isna(column("cancellation_code")) & pd.isna(column("card_returned_date"))
             & ~pd.Series(column("self_info_restricted")).fillna(False).astype(bool).to_numpy()
             & ~pd.Series(column("kakuninsho_requested")).fillna(False).astype(bool).to_numpy())
    status_as_of = pd.Timestamp(C["status_as_of"].iloc[0])
    # Before 2025-12-02 an old paper card may still cover the member: only post-switch members count.
    if inj.today <= OLD_CARDS_LAST_VALID:
        plain &= (M["acquisition_date"] >= PAPER_CARDS_STOPPED).to_numpy()

    rows = inj.pick(inj.free() & ~registered & plain, "not_registered_no_kakuninsho")
    C.loc[C.index[status_row[rows]], "kakuninsho_issued_date"] = pd.NaT
    inj.record(rows, "not_registered_no_kakuninsho")

    for pattern in ("card_returned_no_kakuninsho", "ecert_expired_no_kakuninsho", "requested_no_kakuninsho"):
        rows = inj.pick(inj.free() & registered & plain, pattern)
        at_rows = C.index[status_row[rows]]
        if pattern == "card_returned_no_kakuninsho":
            C.loc[at_rows, "card_returned_date"] = status_as_of - pd.Timedelta(days=20)
        elif pattern == "ecert_expired_no_kakuninsho":
            # Expired five months before the file's date: the 3-month grace is over.
            C.loc[at_rows, "ecert_expiry_date"] = status_as_of - pd.DateOffset(months=5)
        else:
            C.loc[at_rows, "kakuninsho_requested"] = True
        C.loc[at_rows, "kakuninsho_issued_date"] = pd.NaT
        inj.record(rows, pattern)

    # 資格確認書 validity (domain brief §8): the latest one expired → a new one is needed; a valid
    # one covers the member whenever it was issued (traps: no finding, members kept untouched).
    if "kakuninsho_valid_until" not in C.columns:
        C["kakuninsho_valid_until"] = pd.Series(pd.NaT, index=C.index, dtype="datetime64[ns]")
    today = inj.today
    rows = inj.pick(inj.free() & ~registered & plain, "kakuninsho_expired")
    at_rows = C.index[status_row[rows]]
    until = today - pd.to_timedelta(inj.rng.integers(1, 200, len(rows)), unit="D")
    C.loc[at_rows, "kakuninsho_valid_until"] = until.to_numpy()
    C.loc[at_rows, "kakuninsho_issued_date"] = (until - pd.DateOffset(years=1) + pd.Timedelta(days=1)).to_numpy()
    inj.record(rows, "kakuninsho_expired")
    for trap in ("trap_kakuninsho_valid_issued_before_return", "trap_kakuninsho_valid_future_trigger"):
        rows = inj.pick(inj.free() & registered & plain, "kakuninsho_expired")
        at_rows = C.index[status_row[rows]]
        issued = today - pd.to_timedelta(inj.rng.integers(150, 300, len(rows)), unit="D")
        C.loc[at_rows, "kakuninsho_issued_date"] = issued.to_numpy()
        C.loc[at_rows, "kakuninsho_valid_until"] = (issued + pd.DateOffset(years=2) - pd.Timedelta(days=1)).to_numpy()
        if trap == "trap_kakuninsho_valid_issued_before_return":
            C.loc[at_rows, "card_returned_date"] = status_as_of - pd.Timedelta(days=20)
        else:   # cancelled ex officio, the certificate's expiry recorded in the future
            C.loc[at_rows, "cancellation_code"] = "2"
            C.loc[at_rows, "ecert_expiry_date"] = today + pd.Timedelta(days=120)
        for key in zip(M["insurer_number"].to_numpy()[rows], M["member_id"].to_numpy()[rows]):
            W.touched.add(key)


def inject(world: World) -> None:
    """Inject burden-ratio / limit-category / qualification-date / card-status / benefit-history
    defects into ``world``; record each in ``world.truth`` via ``world.record`` and skip
    members already in ``world.touched``.
    """
    if world.members.empty:
        return
    inj = _Injector(world)
    _history_revert(inj)
    _oqs_ratio(inj)
    _ratio_rules(inj)
    _limit_rules(inj)
    _issue_date(inj)
    _oqs_dates(inj)
    _exits(inj)
    _past_75(inj)
    _cards(inj)
    _overlap(inj)   # last: it appends member rows
