"""Build the independent world: a municipality's residents, its 国保 members, and injected problems.

Every injected problem and every trap carries a tag (kind, rules, pattern, suggested resident).
The truth itself is computed afterwards by `truth.compute_truth` from the true world.
"""
from __future__ import annotations

from datetime import date, timedelta

import jaconv

from . import names as N
from .world import (CARD_STOP, ONE, Member, World, add_months, add_years, band70_start, boundary70,
                    check_digit, child_20_end, expected_category, expected_ratio, hh_income_70, in_band70,
                    insurer_address, month_end, past_75, valid_number)

MIS = ("MISLINK_SUSPECTED", "NUMBER_SHARED")
NOTA = ("NOTATION_DIFFERENCE",)


def rdate(rng, lo: date, hi: date) -> date:
    if hi <= lo:
        return lo
    d = lo + timedelta(days=rng.randrange((hi - lo).days + 1))
    if d.month == 2 and d.day == 29:
        d -= ONE
    return d


def birth_for_age(w: World, lo: int, hi: int) -> date:
    a = w.rng.randint(lo, hi)
    d = add_years(w.as_of, -a) - timedelta(days=w.rng.randrange(1, 365))
    if d.month == 2 and d.day == 29:
        d -= ONE
    return d


# --------------------------------------------------------------------------- households
def _jp_person(w, sex, birth, sur, hh, addr, moved_in, own=True, giv=None, muni=None):
    if giv is None:
        giv = w.rng.choice(N.MALE if sex == 1 else N.FEMALE)
    p = w.person(sur=sur, giv=giv, ksur=sur[1], kgiv=giv[1], kanji=f"{sur[0]} {giv[0]}",
                 kana=f"{sur[1]} {giv[1]}", alpha=None, alias=None, former=None, birth=birth, sex=sex, hh=hh,
                 addr=addr, muni=muni or N.MUNICIPALITY_CODE, status="active", sdate=None,
                 moved_in=max(moved_in, birth) if moved_in else birth, nat="JP", own=own)
    return p


def _foreign_person(w, nat, sex, birth, hh, addr, moved_in, sur=None):
    r = w.rng
    F = N.FOREIGN[nat]
    if nat in ("CN", "KR"):
        s = sur or r.choice(F["sur"])
        g = r.choice(F["giv"][sex])
        alpha = f"{s[0]} {g[0]}"
        kana = f"{s[1]} {g[1]}"
        kanji = f"{s[2]} {g[2]}"
        p = w.person(sur=s, giv=g, ksur=s[1], kgiv=g[1], kanji=kanji, kana=kana, alpha=alpha, alias=None,
                     former=None, birth=birth, sex=sex, hh=hh, addr=addr, muni=N.MUNICIPALITY_CODE,
                     status="active", sdate=None, moved_in=max(moved_in, birth) if moved_in else birth, nat=nat, own=True)
    else:
        s = sur or r.choice(F["sur"])
        g = r.choice(F["giv"][sex])
        mid = r.choice(F["mid"][sex]) if r.random() < 0.55 else None
        if nat == "VN":  # NGUYEN VAN THANH: the middle name sits between
            parts_a = [s[0]] + ([mid[0]] if mid else []) + [g[0]]
            parts_k = [s[1]] + ([mid[1]] if mid else []) + [g[1]]
        else:  # residence card order: SURNAME GIVEN MIDDLE
            parts_a = [s[0], g[0]] + ([mid[0]] if mid else [])
            parts_k = [s[1], g[1]] + ([mid[1]] if mid else [])
        alpha = " ".join(parts_a)
        p = w.person(sur=s, giv=g, ksur=s[1], kgiv=g[1], kanji=alpha, kana=" ".join(parts_k), alpha=alpha,
                     alias=None, former=None, birth=birth, sex=sex, hh=hh, addr=addr, muni=N.MUNICIPALITY_CODE,
                     status="active", sdate=None, moved_in=max(moved_in, birth) if moved_in else birth, nat=nat, own=True)
        p.kanji_given_form = mid  # middle name, if any
        p.no_kana = w.rng.random() < 0.35  # the registry often holds no kana for an alphabet name
    return p


def _move_in(w, adult_birth: date) -> date | None:
    """None = born here; else a move-in date."""
    r = w.rng
    if r.random() < 0.5:
        return None
    lo = max(add_years(adult_birth, 18), date(1980, 1, 1))
    hi = w.as_of - timedelta(days=60)
    x = r.random()
    if x < 0.12:  # recent arrivals (some after 2024-12-02)
        lo = max(lo, add_years(w.as_of, -2))
    return rdate(r, lo, hi) if lo < hi else None


def make_household(w: World, kind: str, members_of=None, nat=None, force=None):
    """Create one registry household; `members_of` decides who is a 国保 member.
    Returns (persons, kokuho flag list)."""
    r = w.rng
    hh = w.new_hh()
    addr, parts = w.address()
    persons, kok = [], []
    fsur = None
    if nat:
        mk = lambda sex, b, mi, sur=None: _foreign_person(w, nat, sex, b, hh, addr, mi, sur)  # noqa: E731
        fsur = r.choice(N.FOREIGN[nat]["sur"])
    else:
        sur = r.choices(N.SURNAMES, weights=N.SURNAME_WEIGHTS)[0]
        mk = lambda sex, b, mi, sur=sur: _jp_person(w, sex, b, sur, hh, addr, mi)  # noqa: E731

    def add(sex, b, mi, member=True, same_sur=True):
        for _ in range(20):  # nobody in a household shares a given name (twins included)
            p = mk(sex, b, mi, fsur) if nat and same_sur else mk(sex, b, mi)
            if not any(q.giv[0] == p.giv[0] or q.giv[1] == p.giv[1] for q in persons):
                break
            w.persons.pop()
            w.by_num.pop(p.num, None)
            w.numbers.discard(p.num)
        p.addr_parts = None
        persons.append(p)
        kok.append(member)
        return p

    if kind == "single_elderly":
        b = birth_for_age(w, 65, 74)
        add(r.choice([1, 2]), b, _move_in(w, b))
    elif kind == "couple_elderly":
        b1 = birth_for_age(w, 66, 77)
        b2 = add_years(b1, r.randint(-5, 2)) - timedelta(days=r.randrange(200))
        if b2.month == 2 and b2.day == 29:
            b2 -= ONE
        mi = _move_in(w, b1)
        add(1, b1, mi, member=not past_75(b1, w.as_of) and w.as_of < add_years(b1, 75))
        add(2, b2, mi, member=not past_75(b2, w.as_of) and w.as_of < add_years(b2, 75))
    elif kind == "single_adult":
        b = birth_for_age(w, 20, 64)
        add(r.choice([1, 2]), b, _move_in(w, b))
    elif kind == "couple_mid":
        b1 = birth_for_age(w, 50, 64)
        b2 = birth_for_age(w, 48, 64)
        mi = _move_in(w, b1)
        add(1, b1, mi)
        add(2, b2, mi)
    elif kind in ("family", "mixed", "twins"):
        b1 = birth_for_age(w, 28, 55)
        b2 = birth_for_age(w, max(26, (w.as_of.year - b1.year) - 6), (w.as_of.year - b1.year) + 3)
        mi = _move_in(w, b1)
        add(1, b1, mi, member=(kind != "mixed"))
        add(2, b2, mi)
        young = max(b1, b2)
        kids = r.choice([1, 1, 2, 2, 3])
        lo = add_years(young, 20)
        for i in range(kids):
            kb = rdate(r, lo, min(w.as_of - timedelta(days=40), add_years(young, 42)))
            add(r.choice([1, 2]), kb, mi)
            if kind == "twins" and i == 0:
                add(r.choice([1, 2]), kb, mi)
    elif kind == "three_gen":
        g = birth_for_age(w, 72, 84)
        b1 = add_years(g, r.randint(24, 34))
        if b1 >= w.as_of - timedelta(days=365 * 20):
            b1 = birth_for_age(w, 40, 50)
        mi = _move_in(w, g)
        add(2, g, mi, member=w.as_of < add_years(g, 75))
        add(1, b1, mi)
        add(2, birth_for_age(w, 35, 50), mi)
        for _ in range(r.choice([1, 2])):
            add(r.choice([1, 2]), birth_for_age(w, 0, 17), mi)
    elif kind == "employee":
        b1 = birth_for_age(w, 25, 64)
        mi = _move_in(w, b1)
        add(1, b1, mi, member=False)
        if r.random() < 0.7:
            add(2, birth_for_age(w, 25, 62), mi, member=False)
        for _ in range(r.choice([0, 1, 2, 2])):
            add(r.choice([1, 2]), birth_for_age(w, 0, 20), mi, member=False)
    elif kind == "kouki":
        b1 = birth_for_age(w, 75, 95)
        add(r.choice([1, 2]), b1, _move_in(w, b1), member=False)
        if r.random() < 0.4:
            add(r.choice([1, 2]), birth_for_age(w, 75, 92), None, member=False)
    elif kind == "foreign":
        b1 = birth_for_age(w, 20, 60)
        mi = rdate(r, max(add_years(b1, 18), date(1990, 1, 1)), w.as_of - timedelta(days=60))
        if nat == "KR" and r.random() < 0.5:  # 特別永住者: born here, older
            b1 = birth_for_age(w, 40, 74)
            mi = None
        add(r.choice([1, 2]), b1, mi)
        if r.random() < 0.4:
            add(2 if persons[0].sex == 1 else 1, birth_for_age(w, 20, 60), mi, same_sur=nat in ("CN", "KR", "VN"))
            if r.random() < 0.5:
                kb = birth_for_age(w, 0, 12)
                add(r.choice([1, 2]), kb, mi)
    else:
        raise ValueError(kind)
    for p in persons:
        p.addr_parts = parts
    w.households[hh] = persons
    return hh, persons, kok, parts


def _acq_and_issue(w, p, join: date | None):
    r = w.rng
    acq = max(p.moved_in, join) if join else p.moved_in
    acq = max(acq, p.birth)
    if acq > w.as_of - timedelta(days=10):
        acq = w.as_of - timedelta(days=10 + r.randrange(30))
        acq = max(acq, p.birth)
    if acq < CARD_STOP:
        if acq < date(2024, 10, 1):
            issue = date(2024, 10, 1)
        else:
            issue = min(acq + timedelta(days=r.randint(3, 14)), CARD_STOP - ONE)
    else:
        issue = min(acq + timedelta(days=r.randint(3, 20)), w.as_of)
    if issue <= acq:
        issue = acq + ONE
    return acq, issue


def _income(w, m, age):
    r = w.rng
    if age < 18:
        return 0, 0, True
    if age < 23:  # students and first jobs
        kyu = 0 if r.random() < 0.6 else r.randrange(100_000, 2_400_000, 1000)
        return max(0, kyu - r.randrange(300_000, 900_000, 1000)) if kyu else 0, kyu, kyu <= 380_000
    if age < 65:
        x = r.random()
        if x < 0.25:
            kyu = 0
        elif x < 0.60:
            kyu = r.randrange(100_000, 2_100_000, 1000)
        elif x < 0.88:
            kyu = r.randrange(2_100_000, 6_000_000, 1000)
        elif x < 0.96:
            kyu = r.randrange(6_000_000, 9_000_000, 1000)
        else:
            kyu = r.randrange(9_000_000, 16_000_000, 1000)
    else:
        x = r.random()
        if x < 0.35:
            kyu = 0
        elif x < 0.75:
            kyu = r.randrange(100_000, 1_500_000, 1000)
        elif x < 0.90:
            kyu = r.randrange(1_500_000, 2_800_000, 1000)
        else:
            kyu = r.randrange(2_800_000, 9_000_000, 1000)
    taxable = max(0, kyu - r.randrange(300_000, 1_200_000, 1000)) if kyu else 0
    if kyu >= 2_800_000 and age >= 65 and taxable < 1_450_000:
        taxable = r.randrange(1_460_000, max(1_470_000, kyu - 300_000), 1000)
    exempt = kyu <= 380_000
    return taxable, kyu, exempt


def new_member(w, p, hh, join=None, parts=None, itype="kokuho"):
    r = w.rng
    acq, issue = _acq_and_issue(w, p, join)
    m = Member(mid=None, hh=hh, pid=p.idx, itype=itype, name_kanji=p.kanji, name_kana=p.kana,
               name_alpha=p.alpha, birth=p.birth, sex=p.sex,
               addr=insurer_address(p.addr, parts or p.addr_parts, r), num=p.num, last4=None, acq=acq, loss=None,
               loss_reason=None, issue=issue, ratio=None, cat=None, taxable=0, kyu=0, exempt=True,
               locked=False, no_benefit=False)
    m.idx = len(w.members)
    w.members.append(m)
    return m


def assign_member_ids(w):
    count: dict[str, int] = {}
    for m in w.members:
        if m.mid and "-" in m.mid:
            count[m.hh] = max(count.get(m.hh, 0), int(m.mid.rsplit("-", 1)[1]))
    for m in w.members:
        if m.mid:
            continue
        if m.itype == "kouki":
            m.mid = "%08d" % (10_000_000 + m.pid * 7 % 89_999_999)
            continue
        k = count.get(m.hh, 0) + 1
        count[m.hh] = k
        m.mid = "KH%07d-%02d" % (int(m.hh) % 10_000_000, k)


def build_population(w: World):
    r = w.rng
    hard = w.profile == "hard"
    foreign_share = 0.05 if hard else 0.025
    kinds = [("single_elderly", 18), ("couple_elderly", 16), ("single_adult", 20), ("family", 13),
             ("couple_mid", 8), ("three_gen", 5), ("mixed", 6), ("twins", 1)]
    kw = [k[1] for k in kinds]
    nats = list(N.FOREIGN_WEIGHTS)
    natw = [N.FOREIGN_WEIGHTS[k] for k in nats]
    while len(w.members) < w.target:
        if r.random() < foreign_share * 1.1:
            hh, ps, kok, parts = make_household(w, "foreign", nat=r.choices(nats, natw)[0])
        else:
            kind = r.choices(kinds, kw)[0][0]
            hh, ps, kok, parts = make_household(w, kind)
        # when the household joined 国保: at move-in/birth, on retirement, or on leaving an employer
        x = r.random()
        head = ps[0]
        join = None
        if x < 0.45:
            join = None
        elif x < 0.75 and age_of(w, head) >= 62:
            join = add_years(head.birth, r.randint(60, 65))
            if join > w.as_of - timedelta(days=30):
                join = None
        else:
            lo = max(head.moved_in, add_years(head.birth, 20))
            join = rdate(r, lo, w.as_of - timedelta(days=30)) if lo < w.as_of - timedelta(days=60) else None
        for p, k in zip(ps, kok):
            if k:
                new_member(w, p, hh, join, parts)
        # non-member households of the municipality (employees, 後期)
        for _ in range(1 if r.random() < 0.75 else 2):
            make_household(w, "employee" if r.random() < 0.78 else "kouki")
    # members lost in the last two years, handled correctly (traps for the exit rules)
    for m in w.members:
        p = w.persons[m.pid]
        if m.acq > w.as_of - timedelta(days=200):
            continue
        x = r.random()
        if x < 0.015:
            d = rdate(r, max(m.acq + timedelta(days=30), add_years(w.as_of, -2)), w.as_of - timedelta(days=20))
            p.status, p.sdate = "moved_out", d
            m.loss, m.loss_reason = (d if r.random() < 0.7 else d + ONE), "1"
            m.tag(None, "loss_on_moveout_legal")
        elif x < 0.022 and age_of(w, p) >= 40:
            d = rdate(r, max(m.acq + timedelta(days=30), add_years(w.as_of, -2)), w.as_of - timedelta(days=20))
            p.status, p.sdate = "deceased", d
            m.loss, m.loss_reason = d + ONE, "2"
            m.tag(None, "loss_day_after_death_legal")
        elif x < 0.04 and 20 <= age_of(w, p) < 60:
            d = rdate(r, max(m.acq + timedelta(days=30), add_years(w.as_of, -2)), w.as_of - timedelta(days=20))
            m.loss, m.loss_reason = d, "3"
    # 75th birthday in the last two years: lost the day after (or on the birthday)
    mh = {m.hh for m in w.members}
    for hh, ps in list(w.households.items()):
        for p in ps:
            b75 = add_years(p.birth, 75)
            if add_years(w.as_of, -2) < b75 < w.as_of - timedelta(days=2) and hh in mh:
                if r.random() < 0.8:
                    m = new_member(w, p, hh, None, p.addr_parts)
                    m.loss = b75 + ONE if r.random() < 0.75 else b75
                    m.loss_reason = "4"
                    if m.acq >= m.loss:
                        m.acq, m.issue = m.loss - timedelta(days=900), date(2024, 10, 1)
                        if m.issue >= m.loss:
                            m.issue = m.acq + timedelta(days=5)
                    m.locked = True
                    if m.loss == b75 + ONE and r.random() < 0.7:
                        # the municipality's system also holds the 後期高齢者医療 record: acquired on the
                        # 75th birthday, a legal one-day overlap with 国保 lost the day after (domain §6)
                        k = new_member(w, p, hh, None, p.addr_parts, itype="kouki")
                        k.acq = b75
                        k.issue = b75 - timedelta(days=r.randint(10, 25))
                        k.kouki = True
                        k.no_benefit = True
                        k.no_income = True
                        k.locked = True
                        m.tags.append((None, "trap_legal_one_day_overlap_kouki", None))
                        k.tags.append((None, "trap_legal_one_day_overlap_kouki", None))
    # one member in ten delivers only the last four digits
    for m in w.members:
        if r.random() < 0.10:
            m.last4, m.num = m.num[-4:], None
        elif r.random() < 0.15:
            m.extra_num_also_last4 = True


def age_of(w, p):
    d = w.as_of
    return d.year - p.birth.year - ((d.month, d.day) < (p.birth.month, p.birth.day))
