"""Incomes, burden ratios, limit categories, histories and card status; their injected problems."""
from __future__ import annotations

from datetime import date, timedelta

from .build import _income, age_of, new_member, rdate
from .inject import BENEFIT_RATES, CARD_RATES, _new_single_member, count, free, hh_members, pick
from .world import (CARD_STOP, G_CODES, ONE, add_months, add_years, band70_start, boundary70, child_20_end,
                    expected_category, expected_ratio, hh_income_70, in_band70, month_end, past_75)

D = timedelta
UNDER70 = ["A", "I", "U", "E", "O"]
OVER70 = ["G3", "G2", "G1", "IP", "L2", "L1"]


def last_august(as_of: date) -> date:
    y = as_of.year
    a = date(y, 8, 1)
    while a + D(days=62) > as_of:
        y -= 1
        a = date(y, 8, 1)
    return a


def set_incomes(w):
    for m in w.members:
        if not m.active(w.as_of) or m.no_income:
            m.taxable, m.kyu = 0, 0
            continue
        p = w.persons[m.pid]
        age = age_of(w, p)
        m.taxable, m.kyu, m.exempt = _income(w, m, age)
        if boundary70(m.birth, w.as_of) and m.taxable >= 1_400_000:
            m.taxable = 1_200_000
    mirror_exempt(w)


def mirror_exempt(w):
    """Members without income of their own (lost, special records) never change the household's
    exempt status: they copy it from the others."""
    for hh, ms in hh_members(w).items():
        normal = [m for m in ms if m.active(w.as_of) and not m.no_income]
        ex = all(m.exempt for m in normal) if normal else True
        for m in ms:
            if not m.active(w.as_of) or m.no_income:
                m.exempt = ex


def income_traps(w):
    as_of = w.as_of
    hm = hh_members(w)
    for i, m in enumerate(pick(w, count(w, "trap_income_exactly_145", BENEFIT_RATES),
                               lambda m: free(w, m, jp=None) and in_band70(m.birth, as_of) and len(hm[m.hh]) == 1
                               and not boundary70(m.birth, as_of))):
        m.taxable = 1_450_000 if i % 2 == 0 else 1_449_999
        m.kyu = max(m.kyu, 2_000_000)
        m.exempt = False
        m.tag(None, "trap_income_exactly_145")


def set_ratios(w):
    as_of = w.as_of
    for hh, ms in hh_members(w).items():
        act = [m for m in ms if m.active(as_of)]
        inc = hh_income_70(act, as_of)
        for m in ms:
            if m.itype == "kouki":
                m.ratio, m.cat = 10, None  # 後期: 10% with no 課税所得 (domain §4)
                continue
            if not m.active(as_of):
                last = (m.loss - ONE) if m.loss and m.loss > m.acq else as_of
                m.ratio = expected_ratio(m.birth, last, False) if m.birth <= last else 30
                m.cat = None
                continue
            if m.birth > as_of:
                m.ratio, m.cat = 20, None
                continue
            m.ratio = expected_ratio(m.birth, as_of, inc)
            if m.no_benefit or m.no_category or boundary70(m.birth, as_of):
                m.cat = None
            else:
                m.cat = expected_category(m, act, as_of)


def _new_band_member(w, birth, ratio):
    p, hh, parts = _new_single_member(w, birth=birth)
    m = new_member(w, p, hh, None, parts)
    m.taxable, m.kyu, m.exempt = 0, 300_000, False
    m.ratio, m.cat = ratio, None
    return m


def inject_benefits(w):
    r = w.rng
    as_of = w.as_of
    hm = hh_members(w)

    def ok(m):
        return free(w, m, jp=None) and not m.no_benefit and m.ratio is not None

    def tag(m, rule, pattern):
        m.tag((rule,), pattern)

    for m in pick(w, count(w, "ratio_preschool_at_30", BENEFIT_RATES), lambda m: ok(m) and as_of <= child_20_end(m.birth)):
        m.ratio = 30
        tag(m, "BURDEN_RATIO_RULE", "ratio_preschool_at_30")
    for m in pick(w, count(w, "ratio_school_child_at_20", BENEFIT_RATES),
                  lambda m: ok(m) and 7 <= age_of(w, w.persons[m.pid]) <= 14 and as_of > child_20_end(m.birth)):
        m.ratio = 20
        tag(m, "BURDEN_RATIO_RULE", "ratio_school_child_at_20")
    adult = lambda m: ok(m) and 20 <= age_of(w, w.persons[m.pid]) <= 68 and not boundary70(m.birth, as_of)  # noqa: E731
    for m in pick(w, count(w, "ratio_adult_at_20", BENEFIT_RATES), adult):
        m.ratio = 20
        tag(m, "BURDEN_RATIO_RULE", "ratio_adult_at_20")
    for m in pick(w, count(w, "ratio_10_in_kokuho", BENEFIT_RATES), adult):
        m.ratio = 10
        tag(m, "BURDEN_RATIO_RULE", "ratio_10_in_kokuho")
    # the 70 boundary: born on the 1st → 20% from the birthday month; born the 2nd or later → next month
    y = as_of.year - 70
    prev = add_months(as_of, -1)
    for i in range(count(w, "ratio_70_band_started_still_30", BENEFIT_RATES)):
        b = date(y, as_of.month, 1) if i % 2 == 0 else date(prev.year - 70, prev.month, r.randint(2, 28))
        m = _new_band_member(w, b, 30)
        tag(m, "BURDEN_RATIO_RULE", "ratio_70_band_started_still_30")
    for i in range(count(w, "ratio_70_band_not_started_20", BENEFIT_RATES)):
        b = date(y, as_of.month, 2) if i % 2 == 0 else date(y, as_of.month, r.randint(3, 28))
        m = _new_band_member(w, b, 20)
        tag(m, "BURDEN_RATIO_RULE", "ratio_70_band_not_started_20")
    for i in range(count(w, "trap_70_band_boundary_right", BENEFIT_RATES)):
        b = [date(y, as_of.month, 1), date(y, as_of.month, 2), date(prev.year - 70, prev.month, 2)][i % 3]
        m = _new_band_member(w, b, expected_ratio(b, as_of, False))
        m.tag(None, "trap_70_band_boundary_right")
    # April 1 / April 2 pre-school boundary, both right
    for i, m in enumerate(pick(w, count(w, "trap_preschool_april_boundary_right", BENEFIT_RATES),
                               lambda m: ok(m) and m.acq == m.birth == w.persons[m.pid].moved_in
                               and 4 <= age_of(w, w.persons[m.pid]) <= 9)):
        p = w.persons[m.pid]
        yr = (as_of.year - 6) if as_of.month >= 4 else (as_of.year - 7)
        b = date(yr, 4, 1 + i % 2)
        p.birth = p.moved_in = m.birth = m.acq = b
        m.ratio = expected_ratio(b, as_of, False)
        m.tag(None, "trap_preschool_april_boundary_right")

    band = lambda m: ok(m) and in_band70(m.birth, as_of) and not boundary70(m.birth, as_of)  # noqa: E731
    # §2b: 30% with no qualifying income and a general category — one finding, the ratio
    for m in pick(w, count(w, "ratio30_no_income_general_category", BENEFIT_RATES), lambda m: band(m) and m.cat == "IP"):
        m.ratio = 30
        tag(m, "BURDEN_RATIO_RULE", "ratio30_no_income_general_category")
    # 20% although the household has 課税所得 ≥ 1.45M: soft (基準収入額適用 may apply); category 一般
    for m in pick(w, count(w, "ratio20_income_ge_145_soft", BENEFIT_RATES), lambda m: band(m) and m.cat in G_CODES):
        m.ratio, m.cat = 20, "IP"
        tag(m, "BURDEN_RATIO_RULE", "ratio20_income_ge_145_soft")
    for m in pick(w, count(w, "limit_under70_code_on_70plus", BENEFIT_RATES), lambda m: band(m) and m.cat):
        m.cat = r.choice(["U", "E", "I"])
        tag(m, "LIMIT_CATEGORY_RULE", "limit_under70_code_on_70plus")
    u70 = lambda m: ok(m) and not in_band70(m.birth, as_of) and not boundary70(m.birth, as_of) and m.cat  # noqa: E731
    for m in pick(w, count(w, "limit_70plus_code_on_under70", BENEFIT_RATES), lambda m: u70(m) and age_of(w, w.persons[m.pid]) >= 20):
        m.cat = "IP" if m.cat != "O" else "L2"
        tag(m, "LIMIT_CATEGORY_RULE", "limit_70plus_code_on_under70")
    nb = {"A": "I", "I": r.choice(["A", "U"]), "U": r.choice(["I", "E"]), "E": "U"}
    for m in pick(w, count(w, "limit_income_band_wrong", BENEFIT_RATES), lambda m: u70(m) and m.cat in nb):
        m.cat = {"A": "I", "I": "U", "U": "E" if r.random() < 0.5 else "I", "E": "U"}[m.cat]
        tag(m, "LIMIT_CATEGORY_RULE", "limit_income_band_wrong")
    for m in pick(w, count(w, "limit_exempt_household_not_O", BENEFIT_RATES), lambda m: u70(m) and m.cat == "O"):
        m.cat = "E"
        tag(m, "LIMIT_CATEGORY_RULE", "limit_exempt_household_not_O")
    for m in pick(w, count(w, "limit_70plus_grade_wrong", BENEFIT_RATES), lambda m: band(m) and m.cat in ("G2", "G3", "IP")):
        m.cat = {"G2": "G1", "G3": "G2", "IP": "L2"}[m.cat]
        if m.cat == "L2" and all(x.exempt for x in hm[m.hh] if x.active(as_of)):
            m.cat = "L1" if any((x.kyu or 0) > 0 for x in hm[m.hh]) else "L2"
        tag(m, "LIMIT_CATEGORY_RULE", "limit_70plus_grade_wrong")

    # insurer and OQS disagree on as_of (no history rows for these members)
    for m in pick(w, count(w, "oqs_burden_ratio_differs", BENEFIT_RATES), lambda m: ok(m)):
        m.oqs_ratio = {20: 30, 30: 20, 10: 30}[m.ratio]
        m.no_history = True
        tag(m, "BURDEN_RATIO_OQS_MISMATCH", "oqs_burden_ratio_differs")
    for m in pick(w, count(w, "oqs_limit_category_differs", BENEFIT_RATES), lambda m: ok(m) and m.cat):
        table = OVER70 if m.cat in OVER70 else UNDER70
        i = table.index(m.cat)
        m.oqs_cat = table[i + 1] if i + 1 < len(table) else table[i - 1]
        m.no_history = True
        tag(m, "LIMIT_CATEGORY_OQS_MISMATCH", "oqs_limit_category_differs")

    # histories (§7): a change back to the value of two changes ago is dropped on the OQS side
    aug = last_august(as_of)
    A = add_years(aug, -3)
    for m in pick(w, count(w, "history_reverted_value_dropped", BENEFIT_RATES),
                  lambda m: band(m) and m.ratio == 30 and m.cat in G_CODES and band70_start(m.birth) <= A and m.acq <= A):
        ins = [(20, A, add_years(A, 1) - ONE), (30, add_years(A, 1), add_years(A, 2) - ONE),
               (20, add_years(A, 2), aug - ONE), (30, aug, None)]
        oqs = [(20, A, add_years(A, 1) - ONE), (30, add_years(A, 1), None)]
        m.hist = [("insurer", "burden_ratio", v, f, t) for v, f, t in ins] + [("oqs", "burden_ratio", v, f, t) for v, f, t in oqs]
        tag(m, "BENEFIT_HISTORY_DIVERGENCE", "history_reverted_value_dropped")
    for m in pick(w, count(w, "history_august_redetermination_late", BENEFIT_RATES),
                  lambda m: band(m) and m.ratio == 30 and m.cat in G_CODES and band70_start(m.birth) <= add_years(aug, -1)
                  and m.acq <= add_years(aug, -1)):
        start = add_years(aug, -1)
        late = add_months(aug, 1)
        m.hist = [("insurer", "burden_ratio", 20, start, aug - ONE), ("insurer", "burden_ratio", 30, aug, None),
                  ("oqs", "burden_ratio", 20, start, late - ONE), ("oqs", "burden_ratio", 30, late, None)]
        tag(m, "BENEFIT_HISTORY_DIVERGENCE", "history_august_redetermination_late")
    for m in pick(w, count(w, "history_limit_reverted_dropped", BENEFIT_RATES),
                  lambda m: u70(m) and m.cat == "U" and m.acq <= A and age_of(w, w.persons[m.pid]) >= 25):
        ins = [("E", A, add_years(A, 1) - ONE), ("U", add_years(A, 1), add_years(A, 2) - ONE),
               ("E", add_years(A, 2), aug - ONE), ("U", aug, None)]
        oqs = [("E", A, add_years(A, 1) - ONE), ("U", add_years(A, 1), None)]
        m.hist = [("insurer", "limit_category", v, f, t) for v, f, t in ins] + [("oqs", "limit_category", v, f, t) for v, f, t in oqs]
        tag(m, "BENEFIT_HISTORY_DIVERGENCE", "history_limit_reverted_dropped")


def set_oqs(w):
    for m in w.members:
        if m.oqs_acq is None:
            m.oqs_acq = m.acq
        if m.oqs_loss is None and not m.oqs_loss_set:
            m.oqs_loss = m.loss
        if m.oqs_ratio is None:
            m.oqs_ratio = m.ratio
        if m.oqs_cat is None:
            m.oqs_cat = m.cat


def set_histories(w):
    r = w.rng
    as_of = w.as_of
    three = add_years(as_of, -3)
    aug = last_august(as_of)
    for m in w.members:
        if m.hist or m.locked or not m.active(as_of) or getattr(m, "no_history", False) or m.birth > as_of:
            continue
        rows = []
        e = child_20_end(m.birth)
        b = band70_start(m.birth)
        if m.acq <= e < as_of and e >= three:
            rows = [("burden_ratio", 20, m.acq, e), ("burden_ratio", m.ratio, e + ONE, None)]
        elif m.acq < b <= as_of and b >= three and m.ratio != 30:
            rows = [("burden_ratio", 30, m.acq, b - ONE), ("burden_ratio", m.ratio, b, None)]
        elif r.random() < 0.2:
            rows = [("burden_ratio", m.ratio, m.acq, None)]
        if m.cat and r.random() < 0.12:
            rows.append(("limit_category", m.cat, max(m.acq, aug), None))
        for src in ("insurer", "oqs"):
            for it, v, f, t in rows:
                m.hist.append((src, it, v, f, t))


# --------------------------------------------------------------------------- card status (§8)
def _card(w, registered=1, **kw):
    r = w.rng
    as_of = w.as_of
    soa = month_end(add_months(date(as_of.year, as_of.month, 1), -2).year, add_months(date(as_of.year, as_of.month, 1), -2).month)
    c = dict(registered=registered, registration_date=None, cancellation_code=None, ecert_expiry_date=None,
             card_returned_date=None, self_info_restricted=0, kakuninsho_requested=0, kakuninsho_issued_date=None,
             kakuninsho_valid_until=None, oshirase_issued_date=None, status_as_of=soa)
    if registered:
        c["registration_date"] = rdate(r, date(2021, 10, 20), soa - D(days=5))
        c["ecert_expiry_date"] = rdate(r, as_of + D(days=150), date(2031, 12, 31))
        if r.random() < 0.8:
            c["oshirase_issued_date"] = rdate(r, date(2025, 6, 1), date(2025, 11, 30))
    c.update(kw)
    return c


def _valid_kakuninsho(w, m, empty_until=None):
    r = w.rng
    if m.issue and m.issue >= date(2025, 8, 1):
        iss, until = m.issue, date(m.issue.year + 2, 7, 31)
    else:
        iss, until = rdate(r, date(2026, 7, 1), date(2026, 7, 25)), date(r.choice([2027, 2028]), 7, 31)
    if iss > w.as_of:
        iss = w.as_of - D(days=3)
    if empty_until is None:
        empty_until = r.random() < 0.35
    return dict(kakuninsho_issued_date=iss, kakuninsho_valid_until=None if empty_until else until)


def set_cards(w):
    r = w.rng
    as_of = w.as_of
    for m in w.members:
        if not m.active(as_of):
            m.card = None
            continue
        if m.locked or m.no_benefit:
            m.card = _card(w, 1)
            continue
        age = age_of(w, w.persons[m.pid]) if m.birth <= as_of else 0
        p_reg = 0.6 if age < 15 else (0.78 if age >= 65 else 0.82)
        if r.random() < p_reg:
            m.card = _card(w, 1)
        else:
            m.card = _card(w, 0, **_valid_kakuninsho(w, m))


def inject_cards(w):
    r = w.rng
    as_of = w.as_of
    soa = None

    def ok(m):
        return free(w, m, jp=None) and m.card is not None and not m.no_benefit

    def go(pattern, upd, rule=True, registered=None):
        for m in pick(w, count(w, pattern, CARD_RATES), lambda m: ok(m) and (registered is None or m.card["registered"] == registered)):
            c = m.card
            upd(m, c)
            m.tag(("KAKUNINSHO_NOT_ISSUED",) if rule else None, pattern)

    def expired(m, c):
        c.update(registered=0, registration_date=None, ecert_expiry_date=None, oshirase_issued_date=None,
                 kakuninsho_issued_date=rdate(r, date(2025, 7, 1), date(2025, 7, 31)),
                 kakuninsho_valid_until=date(2026, 7, 31) if as_of > date(2026, 8, 31) else as_of - D(days=r.randint(20, 100)))
    go("kakuninsho_expired_not_renewed", expired)

    def yesterday(m, c):
        c.update(registered=0, registration_date=None, ecert_expiry_date=None,
                 kakuninsho_issued_date=rdate(r, date(2025, 1, 10), date(2025, 9, 30)), kakuninsho_valid_until=as_of - ONE)
    go("kakuninsho_expired_yesterday", yesterday)

    def until_asof(m, c):
        c.update(registered=0, registration_date=None, ecert_expiry_date=None,
                 kakuninsho_issued_date=rdate(r, date(2025, 1, 10), date(2025, 9, 30)), kakuninsho_valid_until=as_of)
    go("trap_kakuninsho_valid_until_is_as_of", until_asof, rule=False)

    def returned(m, c):
        c.update(card_returned_date=rdate(r, c["status_as_of"] - D(days=60), as_of - D(days=3)))
    go("kakuninsho_none_card_returned", returned, registered=1)

    def returned_valid(m, c):
        c.update(card_returned_date=rdate(r, date(2026, 2, 1), as_of - D(days=3)),
                 kakuninsho_issued_date=rdate(r, date(2025, 6, 1), date(2025, 12, 31)),
                 kakuninsho_valid_until=date(2027, 7, 31))
    go("trap_kakuninsho_valid_issued_before_return", returned_valid, rule=False, registered=1)

    def cancel1(m, c):
        c.update(registered=0, cancellation_code="1", kakuninsho_issued_date=None, kakuninsho_valid_until=None,
                 registration_date=rdate(r, date(2021, 10, 20), date(2024, 6, 30)))
    go("kakuninsho_none_cancelled_by_holder", cancel1)

    def cancel2(m, c):
        c.update(registered=0, cancellation_code="2", kakuninsho_issued_date=None, kakuninsho_valid_until=None,
                 registration_date=rdate(r, date(2020, 1, 10), date(2021, 3, 31)),
                 ecert_expiry_date=rdate(r, as_of - D(days=400), as_of - D(days=200)))
    go("kakuninsho_none_cancelled_ex_officio", cancel2)

    def cancel2_valid(m, c):
        c.update(registered=0, cancellation_code="2", ecert_expiry_date=date(2031, r.randint(1, 12), r.randint(1, 28)),
                 **_valid_kakuninsho(w, m, empty_until=False))
    go("trap_kakuninsho_valid_cancel2_cert_to_2031", cancel2_valid, rule=False)

    def ecert(m, c):
        # expired, and past the grace period (until the end of the 3rd month after the expiry month)
        # both on the file's status_as_of and on as_of: inside the grace period the card still works,
        # so that window is left out as ambiguous (domain §8)
        soa = c["status_as_of"]
        last_ok = month_end(add_months(date(soa.year, soa.month, 1), -4).year, add_months(date(soa.year, soa.month, 1), -4).month)
        c.update(ecert_expiry_date=rdate(r, last_ok - D(days=200), last_ok))
    go("kakuninsho_none_ecert_expired", ecert, registered=1)
    go("kakuninsho_none_restricted", lambda m, c: c.update(self_info_restricted=1), registered=1)
    go("kakuninsho_none_requested", lambda m, c: c.update(kakuninsho_requested=1), registered=1)
    go("trap_kakuninsho_valid_requested", lambda m, c: c.update(kakuninsho_requested=1, **_valid_kakuninsho(w, m)),
       rule=False, registered=1)

    def notreg(m, c):
        c.update(registered=0, registration_date=None, ecert_expiry_date=None, oshirase_issued_date=None,
                 kakuninsho_issued_date=None, kakuninsho_valid_until=None)
    go("kakuninsho_none_not_registered", notreg)

    def empty5(m, c):
        c.update(registered=0, registration_date=None, ecert_expiry_date=None,
                 kakuninsho_issued_date=rdate(r, date(2024, 12, 2), date(2025, 3, 31)), kakuninsho_valid_until=None)
    go("trap_kakuninsho_valid_until_empty_5y", empty5, rule=False)

    def expired_nontarget(m, c):
        c.update(kakuninsho_issued_date=rdate(r, date(2024, 12, 2), date(2025, 2, 28)),
                 kakuninsho_valid_until=date(2026, 7, 31) if as_of > date(2026, 8, 1) else as_of - D(days=30))
    go("trap_kakuninsho_expired_not_a_target", expired_nontarget, rule=False, registered=1)

    def lag(m, c):
        s = c["status_as_of"]
        c.update(status_as_of=date(s.year, s.month, 1) - ONE)
        if c["registration_date"] and c["registration_date"] > c["status_as_of"]:
            c["registration_date"] = c["status_as_of"] - D(days=10)
    go("trap_status_as_of_lagging", lag, rule=False, registered=1)
