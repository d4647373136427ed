"""Injected problems and traps (domain.md §1–8).  Each function tags what it did."""
from __future__ import annotations

from datetime import date, timedelta

import jaconv

from . import names as N
from .build import MIS, NOTA, _jp_person, age_of, make_household, new_member, rdate
from .world import (CARD_STOP, ONE, add_years, band70_start, check_digit, child_20_end, in_band70, month_end,
                    past_75, valid_number)

# pattern: (realistic rate per member, hard rate per member)
RATES = {
    # mis-links (§1, §2a)
    "same_name_birth_sex": (0.0012, 0.006), "same_kana_birth_sex_different_kanji": (0.0006, 0.004),
    "trap_same_kana_birth_sex_both_right": (0.0004, 0.002), "family_number_two_holders_neither_right": (0.0002, 0.001), "same_name_variant_kanji_other_person": (0.0003, 0.002), "twin": (0.0004, 0.003), "family_number": (0.0015, 0.004),
    "household_swap": (0.0005, 0.002), "number_typo_checkdigit_passes": (0.0006, 0.002),
    "number_typo_hits_other_person": (0.0004, 0.002), "number_typo_checkdigit_fails": (0.0010, 0.002),
    "number_missing": (0.0004, 0.001), "last4_only_mislink": (0.0008, 0.004),
    "last4_only_same_name_other": (0.0002, 0.002), "last4_no_resident": (0.0002, 0.001),
    "saito_saito_different_family": (0.0002, 0.0015),
    # traps for the matcher
    "trap_same_name_birth_sex_both_right": (0.0008, 0.004), "trap_saito_pair_both_right": (0.0002, 0.0015),
    "trap_twins_both_right": (0.0006, 0.003),
    # notation (§2)
    "variant_kanji": (0.006, 0.012), "variant_vs_variant": (0.0006, 0.002), "gaiji_and_halfwidth_kana": (0.0006, 0.002), "variant_kanji_reverse": (0.001, 0.003), "variant_kanji_given": (0.002, 0.005),
    "outside_bmp_tsuchiyoshi": (0.001, 0.004), "mj_rare_variant": (0.0008, 0.004), "compat_ideograph": (0.0004, 0.002),
    "ivs_variation_selector": (0.0004, 0.002), "gaiji_placeholder": (0.002, 0.005), "gaiji_private_use": (0.0008, 0.003),
    "kana_small_large": (0.003, 0.006), "kana_halfwidth": (0.002, 0.004), "kana_hiragana": (0.0008, 0.002),
    "name_spacing": (0.001, 0.002), "kana_reading_official": (0.002, 0.004),
    "kana_reading_official_surname": (0.0008, 0.002),
    "maiden_name_kyuuji": (0.002, 0.005), "alias_tsusho": (0.0015, 0.004),
    "katakana_for_kanji_foreigner": (0.0012, 0.004), "alpha_order": (0.001, 0.003),
    "middle_name_dropped": (0.0006, 0.002), "translit_variant": (0.001, 0.003), "katakana_for_alpha": (0.001, 0.003),
    "vu_bu_long_vowel": (0.0005, 0.002), "kana_nakaguro_wave": (0.0004, 0.002), "trap_address_kyosho": (0.002, 0.004),
    # qualification dates (§6)
    "qual_issue_date_defect": (0.0015, 0.004), "qual_issue_date_newborn": (0.0003, 0.001),
    "trap_issue_same_day_as_movein": (0.0008, 0.002),
    "qual_oqs_acquisition_differs": (0.0008, 0.002), "qual_oqs_loss_differs": (0.0004, 0.001),
    "qual_oqs_lost_insurer_active": (0.0002, 0.001), "qual_loss_not_linked": (0.0010, 0.002),
    "exit_death_still_active": (0.0008, 0.002), "exit_moveout_still_active": (0.0012, 0.003),
    "exit_loss_recorded_late": (0.0004, 0.001), "past_75_still_active": (0.0008, 0.002),
    "trap_75_boundary_not_past": (0.0004, 0.001),
    "overlap_two_active_records": (0.0006, 0.002), "overlap_periods": (0.0002, 0.001),
    "trap_reenrol_contiguous": (0.0004, 0.001),
    "date_acquisition_before_birth": (0.0002, 0.0008), "date_loss_before_acquisition": (0.0002, 0.0008),
    "date_acquisition_after_as_of": (0.0002, 0.0008), "date_birth_after_as_of": (0.0001, 0.0004),
}
BENEFIT_RATES = {
    "ratio_preschool_at_30": (0.0004, 0.001), "ratio_school_child_at_20": (0.0003, 0.001),
    "ratio_adult_at_20": (0.0003, 0.001), "ratio_10_in_kokuho": (0.0002, 0.0005),
    "ratio_70_band_started_still_30": (0.0003, 0.001), "ratio_70_band_not_started_20": (0.0003, 0.001),
    "trap_70_band_boundary_right": (0.0004, 0.001), "trap_preschool_april_boundary_right": (0.0004, 0.001),
    "ratio30_no_income_general_category": (0.0008, 0.002), "ratio20_income_ge_145_soft": (0.0005, 0.0015),
    "trap_income_exactly_145": (0.0003, 0.001),
    "limit_under70_code_on_70plus": (0.0003, 0.001), "limit_70plus_code_on_under70": (0.0003, 0.001),
    "limit_income_band_wrong": (0.0008, 0.002), "limit_exempt_household_not_O": (0.0004, 0.001),
    "limit_70plus_grade_wrong": (0.0004, 0.001),
    "oqs_burden_ratio_differs": (0.0010, 0.002), "oqs_limit_category_differs": (0.0008, 0.002),
    "history_reverted_value_dropped": (0.0008, 0.002), "history_august_redetermination_late": (0.0004, 0.001),
    "history_limit_reverted_dropped": (0.0003, 0.001),
}
CARD_RATES = {
    "kakuninsho_expired_not_renewed": (0.003, 0.006), "kakuninsho_expired_yesterday": (0.0003, 0.001),
    "kakuninsho_none_card_returned": (0.0008, 0.002), "kakuninsho_none_cancelled_by_holder": (0.0006, 0.0015),
    "kakuninsho_none_cancelled_ex_officio": (0.0006, 0.0015), "kakuninsho_none_ecert_expired": (0.0006, 0.0015),
    "kakuninsho_none_restricted": (0.0002, 0.0006), "kakuninsho_none_requested": (0.0004, 0.001),
    "kakuninsho_none_not_registered": (0.0010, 0.002),
    "trap_kakuninsho_valid_issued_before_return": (0.0008, 0.002),
    "trap_kakuninsho_valid_cancel2_cert_to_2031": (0.0004, 0.001),
    "trap_kakuninsho_valid_until_empty_5y": (0.002, 0.004), "trap_kakuninsho_valid_until_is_as_of": (0.0003, 0.001),
    "trap_kakuninsho_expired_not_a_target": (0.0008, 0.002), "trap_status_as_of_lagging": (0.003, 0.005),
    "trap_kakuninsho_valid_requested": (0.0004, 0.001),
}


def count(w, pattern, table=RATES):
    lo, hi = table[pattern]
    rate = hi if w.profile == "hard" else lo
    scale = getattr(w, "rate_scale", 1.0)
    if scale != 1.0:  # following months: fewer new problems
        return max(1, round(rate * w.target * scale))
    return max(2 if w.profile == "realistic" else 3, round(rate * w.target))


def free(w, m, jp=True, full=None, adult=None):
    if m.locked or not m.active(w.as_of) or m.itype != "kokuho":
        return False
    p = w.persons[m.pid]
    if p.status != "active" or not p.own:
        return False
    if jp is True and p.nat != "JP":
        return False
    if full is True and m.num is None:
        return False
    if full is False and m.last4 is None:
        return False
    if add_years(m.birth, 75) <= w.as_of + timedelta(days=150):  # no problem on someone about to turn 75
        return False
    return True


def pick(w, k, pred):
    """k members satisfying pred, in a seeded pseudo-random order (lazy: stops at k)."""
    ms = w.members
    n = len(ms)
    if n == 0 or k <= 0:
        return []
    start = w.rng.randrange(n)
    step = w.rng.choice([p for p in (7919, 104729, 15485863, 32452843, 49979687) if n % p])
    out = []
    for i in range(n):
        m = ms[(start + i * step) % n]
        if pred(m):
            out.append(m)
            if len(out) >= k:
                break
    return out


def members_of_person(w):
    d = {}
    for m in w.members:
        d.setdefault(m.pid, []).append(m)
    return d


def hh_members(w):
    d = {}
    for m in w.members:
        d.setdefault(m.hh, []).append(m)
    return d


def zero_income(m):
    m.taxable, m.kyu = 0, 0
    m.no_income = True


def typo_variants(num: str):
    """single-digit substitutions and adjacent swaps of a valid number (§1)."""
    out_pass, out_fail = [], []
    for i in range(12):
        for dgt in "0123456789":
            if dgt != num[i]:
                t = num[:i] + dgt + num[i + 1:]
                (out_pass if valid_number(t) else out_fail).append(t)
    for i in range(11):
        if num[i] != num[i + 1]:
            t = num[:i] + num[i + 1] + num[i] + num[i + 2:]
            (out_pass if valid_number(t) else out_fail).append(t)
    return out_pass, out_fail


def _new_single_member(w, sex=None, birth=None, sur=None, giv=None, age=(25, 64)):
    """A fresh 国保 single household (used for pairs that need a second person)."""
    from .build import birth_for_age
    r = w.rng
    hh = w.new_hh()
    addr, parts = w.address()
    sex = sex or r.choice([1, 2])
    birth = birth or birth_for_age(w, *age)
    sur = sur or r.choices(N.SURNAMES, weights=N.SURNAME_WEIGHTS)[0]
    p = _jp_person(w, sex, birth, sur, hh, addr, None, giv=giv)
    p.addr_parts = parts
    w.households[hh] = [p]
    return p, hh, parts


def _elsewhere_person(w, sex, birth, sur, giv):
    r = w.rng
    muni, place = r.choice(N.OTHER_MUNICIPALITIES)
    p = _jp_person(w, sex, birth, sur, "E%07d" % r.randrange(10**7), f"{place}{r.choice(N.TOWNS)}{r.randint(1, 5)}丁目{r.randint(1, 30)}番{r.randint(1, 20)}号",
                   rdate(r, add_years(birth, 18), w.as_of - timedelta(days=100)) if add_years(birth, 18) < w.as_of else None,
                   own=False, giv=giv, muni=muni)
    p.rid = w.new_rid(own=False)
    p.addr_parts = None
    return p


# =========================================================================== mis-links
def inject_mislinks(w):
    r = w.rng
    as_of = w.as_of
    hm = hh_members(w)

    # same name + birth date + sex, a different person (elsewhere, or here and a member: NUMBER_SHARED)
    for m in pick(w, count(w, "same_name_birth_sex"), lambda m: free(w, m, full=True) and age_of(w, w.persons[m.pid]) >= 18):
        p = w.persons[m.pid]
        if r.random() < 0.45:
            q, hh, parts = _new_single_member(w, p.sex, p.birth, p.sur, p.giv)
            qm = new_member(w, q, hh, None, parts)
            qm.locked = True
            qm.tag(None, "trap_rightful_holder_of_shared_number")
        else:
            q = _elsewhere_person(w, p.sex, p.birth, p.sur, p.giv)
        m.num = q.num
        m.tag(MIS, "same_name_birth_sex", p.rid)

    # the other person's registry name differs from the member's only by a variant kanji (髙橋 / 高橋)
    vs = {s[0]: s for s in N.SURNAMES if s[2] and not any(c in "".join(s[2]) for c in "\U000E0100")}
    for m in pick(w, count(w, "same_name_variant_kanji_other_person"),
                  lambda m: free(w, m, full=True) and w.persons[m.pid].sur[0] in vs and age_of(w, w.persons[m.pid]) >= 18
                  and w.persons[m.pid].kanji == m.name_kanji):
        p = w.persons[m.pid]
        q = _elsewhere_person(w, p.sex, p.birth, p.sur, p.giv)
        q.kanji = f"{r.choice(vs[p.sur[0]][2])} {p.giv[0]}"
        m.num = q.num
        m.tag(MIS, "same_name_variant_kanji_other_person", p.rid)

    # the 2023 root cause: カナ氏名・生年月日・性別 agree, the kanji name does not (裕子 / 優子)
    by_kana = {}
    for g in N.MALE + N.FEMALE:
        by_kana.setdefault(g[1], []).append(g)
    homo = {k: v for k, v in by_kana.items() if len(v) > 1}
    for kind in ("same_kana_birth_sex_different_kanji", "trap_same_kana_birth_sex_both_right"):
        for m in pick(w, count(w, kind), lambda m: free(w, m, full=True if not kind.startswith("trap") else None)
                      and age_of(w, w.persons[m.pid]) >= 18 and w.persons[m.pid].giv[1] in homo
                      and w.persons[m.pid].kanji == m.name_kanji):
            p = w.persons[m.pid]
            other = r.choice([g for g in homo[p.giv[1]] if g[0] != p.giv[0]])
            if kind.startswith("trap"):
                q, hh, parts = _new_single_member(w, p.sex, p.birth, p.sur, other)
                if r.random() < 0.6:
                    qm = new_member(w, q, hh, None, parts)
                    qm.tag(None, kind)
                m.tag(None, kind)
                continue
            if r.random() < 0.4:
                q, hh, parts = _new_single_member(w, p.sex, p.birth, p.sur, other)
                qm = new_member(w, q, hh, None, parts)
                qm.tag(None, "trap_rightful_holder_of_shared_number")
            else:
                q = _elsewhere_person(w, p.sex, p.birth, p.sur, other)
            m.num = q.num
            m.tag(MIS, kind, p.rid)

    # 斎藤 / 斉藤: different surname families, same kana (§2) — a mis-link, never notation
    saito = [s for s in N.SURNAMES if s[0] == "斎藤"][0]
    saito2 = [s for s in N.SURNAMES if s[0] == "斉藤"][0]
    for i in range(count(w, "saito_saito_different_family")):
        a, hh, parts = _new_single_member(w, sur=saito)
        am = new_member(w, a, hh, None, parts)
        if r.random() < 0.5:
            b, hh2, parts2 = _new_single_member(w, a.sex, a.birth, saito2, a.giv)
            bm = new_member(w, b, hh2, None, parts2)
            bm.tag(None, "trap_rightful_holder_of_shared_number")
        else:
            b = _elsewhere_person(w, a.sex, a.birth, saito2, a.giv)
        am.num = b.num
        am.tag(MIS, "saito_saito_different_family", a.rid)
    for i in range(count(w, "trap_saito_pair_both_right")):
        a, hh, parts = _new_single_member(w, sur=saito)
        am = new_member(w, a, hh, None, parts)
        b, hh2, parts2 = _new_single_member(w, a.sex, a.birth, saito2, a.giv)
        bm = new_member(w, b, hh2, None, parts2)
        am.tag(None, "trap_saito_pair_both_right")
        bm.tag(None, "trap_saito_pair_both_right")
    for m in pick(w, count(w, "trap_same_name_birth_sex_both_right"), lambda m: free(w, m) and age_of(w, w.persons[m.pid]) >= 18):
        p = w.persons[m.pid]
        q, hh, parts = _new_single_member(w, p.sex, p.birth, p.sur, p.giv)
        if r.random() < 0.6:
            qm = new_member(w, q, hh, None, parts)
            qm.tag(None, "trap_same_name_birth_sex_both_right")
        m.tag(None, "trap_same_name_birth_sex_both_right")

    # twins: same birth date, surname, household; different given name
    for i in range(count(w, "twin") + count(w, "trap_twins_both_right")):
        hh, ps, kok, parts = make_household(w, "twins")
        ms = [new_member(w, p, hh, None, parts) for p, k in zip(ps, kok) if k]
        kids = [m for m in ms if m.birth == ms[-1].birth or any(m.birth == o.birth and m is not o for o in ms)]
        tw = [m for m in ms if sum(1 for o in ms if o.birth == m.birth) == 2]
        if len(tw) < 2:
            continue
        a, b = tw[0], tw[1]
        if i >= count(w, "twin"):
            a.tag(None, "trap_twins_both_right")
            b.tag(None, "trap_twins_both_right")
            continue
        if r.random() < 0.6:
            a.num = b.num  # b keeps its own: NUMBER_SHARED on a
            a.tag(MIS, "twin", w.persons[a.pid].rid)
            b.tag(None, "trap_rightful_holder_of_shared_number")
        else:
            a.num, b.num = b.num, a.num
            a.tag(MIS, "twin_swap", w.persons[a.pid].rid)
            b.tag(MIS, "twin_swap", w.persons[b.pid].rid)

    # a family member's number (holder a member → NUMBER_SHARED; holder not a member → MISLINK)
    hm = hh_members(w)
    for m in pick(w, count(w, "family_number"), lambda m: free(w, m, full=True) and len(w.households.get(m.hh, [])) >= 2):
        p = w.persons[m.pid]
        fam = [q for q in w.households[m.hh] if q is not p and q.status == "active"]
        if not fam:
            continue
        q = r.choice(fam)
        qms = [x for x in hm.get(m.hh, []) if x.pid == q.idx]
        if qms and (qms[0].num != q.num or qms[0].locked and not any(t[1] == "trap_rightful_holder_of_shared_number" for t in qms[0].tags)):
            continue
        m.num = q.num
        m.tag(MIS, "family_number" if qms else "family_number_holder_not_member", p.rid)
        for x in qms:
            x.tag(None, "trap_rightful_holder_of_shared_number")

    # two children linked to a parent who is not a member: both hold a number that is not theirs
    hm = hh_members(w)
    for m in pick(w, count(w, "family_number_two_holders_neither_right"),
                  lambda m: free(w, m, full=True) and any(not x.locked for x in hm.get(m.hh, []) if x is not m)):
        p = w.persons[m.pid]
        holders = [q for q in w.households[m.hh] if q is not p and q.status == "active"
                   and not any(x.pid == q.idx for x in hm.get(m.hh, []))]
        sibs = [x for x in hm.get(m.hh, []) if x is not m and free(w, x, full=True)]
        if not holders or not sibs:
            continue
        q = r.choice(holders)
        o = r.choice(sibs)
        m.num = o.num = q.num
        m.tag(MIS, "family_number_two_holders_neither_right", p.rid)
        o.tag(MIS, "family_number_two_holders_neither_right", w.persons[o.pid].rid)

    # household swap: two members hold each other's numbers (two findings)
    for m in pick(w, count(w, "household_swap"), lambda m: free(w, m, full=True)):
        if m.locked:
            continue
        others = [x for x in hm.get(m.hh, []) if x is not m and free(w, x, full=True)]
        if not others:
            continue
        o = r.choice(others)
        m.num, o.num = o.num, m.num
        m.tag(MIS, "household_swap", w.persons[m.pid].rid)
        o.tag(MIS, "household_swap", w.persons[o.pid].rid)

    # typing errors in the number (§1, §3)
    for kind in ("number_typo_checkdigit_passes", "number_typo_hits_other_person", "number_typo_checkdigit_fails"):
        passing = kind != "number_typo_checkdigit_fails"
        for m in pick(w, count(w, kind), lambda m: free(w, m, jp=None, full=True)
                      and (not passing or any(t not in w.numbers for t in typo_variants(m.num)[0]))):
            ok, bad = typo_variants(m.num)
            ok = [t for t in ok if t not in w.numbers]
            if kind == "number_typo_checkdigit_fails":
                m.num = r.choice(bad)
                m.tag(("NUMBER_INVALID",), kind)
                continue
            if not ok:
                continue
            t = r.choice(ok)
            m.num = t
            if kind == "number_typo_hits_other_person":
                from .build import birth_for_age
                sex = r.choice([1, 2])
                z = _elsewhere_person(w, sex, birth_for_age(w, 20, 80),
                                      r.choices(N.SURNAMES, weights=N.SURNAME_WEIGHTS)[0], None)
                w.numbers.discard(z.num)
                del w.by_num[z.num]
                z.num = t
                w.numbers.add(t)
                w.by_num[t] = z
                m.tag(MIS, kind, w.persons[m.pid].rid)
            else:
                w.numbers.add(t)  # reserved: nobody holds it
                m.tag(("RESIDENT_NOT_FOUND",), kind)
    for m in pick(w, count(w, "number_missing"), lambda m: free(w, m, jp=None, full=True)):
        m.num = None
        m.tag(("NUMBER_INVALID",), "number_missing")

    # §2a: last four digits only
    for m in pick(w, count(w, "last4_only_mislink"), lambda m: free(w, m, full=False) and len(w.households.get(m.hh, [])) >= 2):
        p = w.persons[m.pid]
        fam = [q for q in w.households[m.hh] if q is not p and q.num[-4:] != p.num[-4:]]
        if not fam:
            continue
        m.last4 = r.choice(fam).num[-4:]
        m.tag(MIS, "last4_only_mislink", p.rid)
    for m in pick(w, count(w, "last4_only_same_name_other"), lambda m: free(w, m, full=False) and age_of(w, w.persons[m.pid]) >= 18):
        p = w.persons[m.pid]
        q, hh, parts = _new_single_member(w, p.sex, p.birth, p.sur, p.giv)
        if q.num[-4:] == p.num[-4:]:
            continue
        m.last4 = q.num[-4:]
        m.tag(MIS, "last4_only_same_name_other", p.rid)
    for m in pick(w, count(w, "last4_no_resident"), lambda m: free(w, m, full=False) and len(w.households.get(m.hh, [])) == 1):
        w.persons[m.pid].omit = True
        m.tag(("RESIDENT_NOT_FOUND",), "last4_no_resident")


# =========================================================================== notation
def _rename_household_surname(w, hh, sur, registry_form, insurer_form, pattern, hm, kana_registry=None):
    """Give a household surname `sur`: the registry holds registry_form, the insurer insurer_form."""
    ok = True
    for p in w.households[hh]:
        if p.nat != "JP":
            ok = False
    mems = hm.get(hh, [])
    if not ok or not mems or any(m.locked or not m.active(w.as_of) for m in mems):
        return False
    for p in w.households[hh]:
        if p.former:
            return False
    for p in w.households[hh]:
        p.sur = sur
        p.kanji = f"{registry_form} {p.giv[0]}"
        p.kana = f"{kana_registry or sur[1]} {p.giv[1]}"
    for m in mems:
        p = w.persons[m.pid]
        m.name_kanji = f"{insurer_form} {p.giv[0]}"
        m.name_kana = f"{sur[1]} {p.giv[1]}"
        if m.name_kanji != p.kanji or m.name_kana != p.kana:
            m.tag(NOTA, pattern)
        else:
            m.locked = True
    return True


def inject_notation(w):
    r = w.rng
    hm = hh_members(w)
    jp_hh = [hh for hh, ms in hm.items() if all(free(w, m) for m in ms)]
    r.shuffle(jp_hh)
    it = iter(jp_hh)

    def households(n, fn):
        done = 0
        for hh in it:
            if done >= n:
                break
            if fn(hh):
                done += 1

    variants = [s for s in N.SURNAMES if s[2]]
    common = [s for s in variants if not any(ch in "".join(s[2]) for ch in "𠮷䅰\uFA19\U000E0100")]
    # registry holds the variant (戸籍 form), the insurer the common form
    households(max(1, count(w, "variant_kanji") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, r.choice([v for v in s[2]]), s[0], "variant_kanji", hm))(r.choice(common)))
    households(max(1, count(w, "variant_kanji_reverse") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, s[0], r.choice(s[2]), "variant_kanji", hm))(r.choice(common)))
    bmp = [s for s in variants if "𠮷" in "".join(s[2])]
    households(max(1, count(w, "outside_bmp_tsuchiyoshi") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, s[2][0], s[0], "outside_bmp_tsuchiyoshi", hm))(r.choice(bmp)))
    mj = [s for s in variants if "䅰" in "".join(s[2])]
    households(max(1, count(w, "mj_rare_variant") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, s[2][0], s[0], "mj_rare_variant", hm))(r.choice(mj)))
    compat = [s for s in variants if "\uFA19" in "".join(s[2])]
    households(max(1, count(w, "compat_ideograph") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, s[2][0], s[0], "compat_ideograph", hm))(r.choice(compat)))
    ivs = [s for s in variants if "\U000E0100" in "".join(s[2])]
    households(max(1, count(w, "ivs_variation_selector") // 2), lambda hh: (lambda s: _rename_household_surname(
        w, hh, s, s[2][0], s[0], "ivs_variation_selector", hm))(r.choice(ivs)))

    def gaiji(hh, placeholders, pattern):
        s = r.choice(variants)
        v = s[2][0]
        if "\U000E0100" in v:
            return False
        # the character the insurer's system could not hold becomes a placeholder
        pos = [i for i, ch in enumerate(v) if ch not in s[0]]
        if not pos:
            return False
        ph = r.choice(placeholders)
        ins = "".join(ph if i in pos else ch for i, ch in enumerate(v))
        return _rename_household_surname(w, hh, s, v, ins, pattern, hm)
    households(max(1, count(w, "gaiji_placeholder") // 2), lambda hh: gaiji(hh, N.GAIJI_PLACEHOLDERS, "gaiji_placeholder"))

    # a legacy system: 外字 placeholder in the kanji name and half-width kana together
    def gaiji_hw(hh):
        if not gaiji(hh, N.GAIJI_PLACEHOLDERS, "gaiji_and_halfwidth_kana"):
            return False
        for m in hm.get(hh, []):
            m.name_kana = jaconv.z2h(m.name_kana, kana=True, ascii=False, digit=False)
        return True
    households(max(1, count(w, "gaiji_and_halfwidth_kana") // 2), gaiji_hw)
    # the registry holds one variant, the insurer another (渡邊 / 渡邉, 濱田 / 濵田)
    multi = [s for s in variants if len(s[2]) >= 2]
    households(max(1, count(w, "variant_vs_variant") // 2), lambda hh: (lambda s, vv: _rename_household_surname(
        w, hh, s, vv[0], vv[1], "variant_vs_variant", hm))(*(lambda s: (s, r.sample(s[2], 2)))(r.choice(multi))))
    households(max(1, count(w, "gaiji_private_use") // 2), lambda hh: gaiji(hh, N.PRIVATE_USE, "gaiji_private_use"))
    rs = [s for s in N.SURNAMES if s[0] in {x[0] for x in N.READING_SURNAME}]

    def reading_sur(hh):
        s = r.choice(rs)
        old, new = [(x[1], x[2]) for x in N.READING_SURNAME if x[0] == s[0]][0]
        if not _rename_household_surname(w, hh, (s[0], old, s[2]), s[0], s[0], "kana_reading_official_surname", hm,
                                         kana_registry=new):
            return False
        return True
    households(max(1, count(w, "kana_reading_official_surname") // 2), reading_sur)

    # per person
    def person_pick(n, pred):
        return pick(w, n, lambda m: free(w, m) and pred(m))

    for m in person_pick(count(w, "variant_kanji_given"), lambda m: True):
        p = w.persons[m.pid]
        pool = [g for g in (N.MALE if p.sex == 1 else N.FEMALE) if g[2]]
        g = r.choice(pool)
        p.giv = g
        p.kanji = f"{p.sur[0] if isinstance(p.sur, tuple) else p.sur} {r.choice(g[2])}"
        p.kana = f"{p.sur[1]} {g[1]}"
        m.name_kanji = f"{p.sur[0]} {g[0]}"
        m.name_kana = p.kana
        m.tag(NOTA, "mj_rare_variant" if "䅰" in p.kanji else "variant_kanji_given")
    small = set("ャュョッァィゥェォ")
    large = str.maketrans("ャュョッァィゥェォ", "ヤユヨツアイウエオ")
    for m in person_pick(count(w, "kana_small_large"), lambda m: True):
        p = w.persons[m.pid]
        if not any(ch in small for ch in p.kana):
            pool = [g for g in (N.MALE if p.sex == 1 else N.FEMALE) if any(ch in small for ch in g[1])]
            g = r.choice(pool)
            p.giv = g
            p.kanji = f"{p.sur[0]} {g[0]}"
            p.kana = f"{p.sur[1]} {g[1]}"
            m.name_kanji = p.kanji
        m.name_kana = p.kana.translate(large)
        m.tag(NOTA, "kana_small_large")
    for m in person_pick(count(w, "kana_halfwidth"), lambda m: True):
        m.name_kana = jaconv.z2h(m.name_kana, kana=True, ascii=False, digit=False)
        m.tag(NOTA, "kana_halfwidth")
    for m in person_pick(count(w, "kana_hiragana"), lambda m: True):
        m.name_kana = jaconv.kata2hira(m.name_kana)
        m.tag(NOTA, "kana_hiragana")
    for m in person_pick(count(w, "name_spacing"), lambda m: True):
        m.name_kanji = m.name_kanji.replace(" ", "" if r.random() < 0.5 else "\u3000")
        m.tag(NOTA, "name_spacing")
    for m in person_pick(count(w, "kana_reading_official"), lambda m: True):
        p = w.persons[m.pid]
        pool = [g for g in N.READING_GIVEN if g[3] == p.sex]
        g = r.choice(pool)
        p.giv = (g[0], g[2], [])
        p.kanji = f"{p.sur[0]} {g[0]}"
        p.kana = f"{p.sur[1]} {g[2]}"
        m.name_kanji = p.kanji
        m.name_kana = f"{p.sur[1]} {g[1]}"
        m.tag(NOTA, "kana_reading_official")
    # 旧氏: married woman registered under her former surname at the insurer
    for m in person_pick(count(w, "maiden_name_kyuuji"),
                         lambda m: m.sex == 2 and 25 <= age_of(w, w.persons[m.pid]) <= 70
                         and any(q.sex == 1 and abs(q.birth.year - m.birth.year) < 12 for q in w.households[m.hh])):
        p = w.persons[m.pid]
        maiden = r.choices(N.SURNAMES, weights=N.SURNAME_WEIGHTS)[0]
        if maiden[0] == p.sur[0] or maiden[1] == p.sur[1]:
            continue
        p.former = maiden[0]
        m.name_kanji = f"{maiden[0]} {p.giv[0]}"
        m.name_kana = f"{maiden[1]} {p.giv[1]}"
        m.tag(NOTA, "maiden_name_kyuuji")

    # foreign residents (§2)
    def fpick(n, nats, pred=lambda m: True):
        return pick(w, n, lambda m: free(w, m, jp=False) and w.persons[m.pid].nat in nats and pred(m))

    for m in fpick(count(w, "alias_tsusho"), ("KR", "CN"), lambda m: age_of(w, w.persons[m.pid]) >= 18):
        p = w.persons[m.pid]
        sur_k = p.kanji.split(" ")[0]
        a_sur = N.ALIAS_SURNAME[sur_k]
        a_giv = r.choice(N.ALIAS_GIVEN[p.sex])
        p.alias = f"{a_sur[0]} {a_giv[0]}"
        m.name_kanji = p.alias
        m.name_kana = f"{a_sur[1]} {a_giv[1]}"
        m.name_alpha = None
        m.tag(NOTA, "alias_tsusho")
    # clean 通称 holders: registry has alias_name, insurer holds the real name — nothing to raise
    for m in fpick(max(1, count(w, "alias_tsusho") // 2), ("KR", "CN"), lambda m: age_of(w, w.persons[m.pid]) >= 18):
        p = w.persons[m.pid]
        a_sur = N.ALIAS_SURNAME[p.kanji.split(" ")[0]]
        p.alias = f"{a_sur[0]} {r.choice(N.ALIAS_GIVEN[p.sex])[0]}"
        m.tag(None, "trap_alias_on_registry_real_name_held")
    for m in fpick(count(w, "katakana_for_kanji_foreigner"), ("KR", "CN")):
        p = w.persons[m.pid]
        m.name_kanji = p.kana
        m.name_alpha = None if r.random() < 0.6 else p.alpha
        m.tag(NOTA, "katakana_for_kanji_foreigner")
    alpha_nats = ("VN", "PH", "BR", "NP")
    for m in fpick(count(w, "alpha_order"), alpha_nats + ("CN", "KR")):
        p = w.persons[m.pid]
        parts = p.alpha.split(" ")
        if len(parts) < 2:
            continue
        new = " ".join(parts[1:] + parts[:1])
        if new == p.alpha:  # 李 麗 → LI LI reads the same both ways
            continue
        if p.nat in alpha_nats:
            m.name_kanji = new
        m.name_alpha = new
        m.tag(NOTA, "alpha_order")
    for m in fpick(count(w, "middle_name_dropped"), alpha_nats, lambda m: w.persons[m.pid].kanji_given_form is not None):
        p = w.persons[m.pid]
        short = f"{p.sur[0]} {p.giv[0]}"
        m.name_kanji = short
        m.name_alpha = short
        m.name_kana = f"{p.sur[1]} {p.giv[1]}"
        m.tag(NOTA, "middle_name_dropped")
    for m in fpick(count(w, "translit_variant"), alpha_nats, lambda m: w.persons[m.pid].giv[1] != w.persons[m.pid].giv[2]):
        p = w.persons[m.pid]
        kana = p.kana.replace(p.giv[1], p.giv[2], 1)
        m.name_kanji = kana
        m.name_kana = kana
        m.name_alpha = None
        m.tag(NOTA, "translit_variant")
    for m in fpick(count(w, "katakana_for_alpha"), alpha_nats):
        p = w.persons[m.pid]
        m.name_kanji = p.kana
        m.name_alpha = None
        m.tag(NOTA, "katakana_for_alpha")
    # ・ between the parts of a foreign name, ～ for the long vowel (domain §2: spaces and ・, ー/～)
    for m in fpick(count(w, "kana_nakaguro_wave"), alpha_nats + ("CN", "KR"), lambda m: not w.persons[m.pid].no_kana):
        k = m.name_kana.replace(" ", "・")
        if "ー" in k and w.rng.random() < 0.5:
            k = k.replace("ー", "～")
        m.name_kana = k
        m.tag(NOTA, "kana_nakaguro_wave")
    # 居所: the insurer holds the care facility / lodging address, the registry the 住所 — no finding
    for m in pick(w, count(w, "trap_address_kyosho"), lambda m: free(w, m, jp=None) and age_of(w, w.persons[m.pid]) >= 60):
        m.addr = f"{N.CITY}{w.rng.choice(N.TOWNS)}{w.rng.randint(1, 5)}-{w.rng.randint(1, 30)}-{w.rng.randint(1, 20)} " \
                 f"{w.rng.choice(['特別養護老人ホーム若葉苑', 'グループホームみどり', 'サービス付き高齢者向け住宅あおば'])}内"
        m.tag(None, "trap_address_kyosho")
    for m in fpick(count(w, "vu_bu_long_vowel"), alpha_nats, lambda m: not w.persons[m.pid].no_kana and any(c in w.persons[m.pid].kana for c in "ヴー")):
        p = w.persons[m.pid]
        k = p.kana.replace("ヴァ", "バ").replace("ヴィ", "ビ").replace("ヴー", "ブー").replace("ヴェ", "ベ").replace("ヴ", "ブ")
        if k == p.kana:
            k = p.kana.replace("ー", "")
        m.name_kana = k
        m.tag(NOTA, "vu_bu_long_vowel")


# =========================================================================== qualification dates (§6)
def inject_qualification(w):
    r = w.rng
    as_of = w.as_of
    d = timedelta

    def nonjp_ok(m):
        return free(w, m, jp=None)

    # 資格適用日 = 交付日 defect: the resident moved in earlier
    for m in pick(w, count(w, "qual_issue_date_defect"),
                  lambda m: nonjp_ok(m) and w.persons[m.pid].moved_in > w.persons[m.pid].birth
                  and m.acq == w.persons[m.pid].moved_in and w.persons[m.pid].moved_in > date(2012, 1, 1)
                  and w.persons[m.pid].moved_in < as_of - d(days=120)):
        p = w.persons[m.pid]
        wrong = p.moved_in + d(days=r.randint(12, 80))
        m.acq = m.issue = wrong
        m.tag(("QUAL_DATE_IS_ISSUE_DATE",), "qual_issue_date_defect")
    for m in pick(w, count(w, "qual_issue_date_newborn"),
                  lambda m: nonjp_ok(m) and m.acq == m.birth and w.persons[m.pid].moved_in == m.birth
                  and m.birth > date(2015, 1, 1) and m.birth < as_of - d(days=120)):
        m.acq = m.issue = m.birth + d(days=r.randint(10, 40))
        m.tag(("QUAL_DATE_IS_ISSUE_DATE",), "qual_issue_date_newborn")
    # trap: card issued the day the person moved in (acquisition = issue = move-in)
    for i in range(count(w, "trap_issue_same_day_as_movein")):
        p, hh, parts = _new_single_member(w)
        p.moved_in = rdate(r, max(CARD_STOP, add_years(as_of, -1)), as_of - d(days=20))
        m = new_member(w, p, hh, None, parts)
        m.acq = m.issue = p.moved_in
        m.tag(None, "trap_issue_same_day_as_movein")

    for m in pick(w, count(w, "qual_oqs_acquisition_differs"), lambda m: nonjp_ok(m) and m.acq > m.birth + d(days=400)):
        m.oqs_acq = m.acq + d(days=r.choice([-365, -31, -1, 1, 30, 61]))
        if m.oqs_acq > as_of or m.oqs_acq < m.birth:
            m.oqs_acq = m.acq - ONE
        m.tag(("QUAL_DATE_OQS_MISMATCH",), "qual_oqs_acquisition_differs")
    lost = lambda m: (not m.locked and m.loss is not None and m.loss_reason in ("1", "2", "3") and m.itype == "kokuho")  # noqa: E731
    for m in pick(w, count(w, "qual_oqs_loss_differs"), lambda m: lost(m) and m.loss - m.acq > d(days=90)):
        m.oqs_loss = m.loss - d(days=r.choice([1, 14, 30, 45]))
        m.tag(("QUAL_DATE_OQS_MISMATCH",), "qual_oqs_loss_differs")
    for m in pick(w, count(w, "qual_oqs_lost_insurer_active"), lambda m: nonjp_ok(m) and m.acq < as_of - d(days=200)):
        m.oqs_loss = as_of - d(days=r.randint(20, 90))
        m.tag(("QUAL_DATE_OQS_MISMATCH",), "qual_oqs_lost_insurer_active")
    for m in pick(w, count(w, "qual_loss_not_linked"), lambda m: lost(m)):
        m.oqs_loss = None
        m.oqs_loss_set = True
        m.tag(("QUAL_LOSS_NOT_LINKED",), "qual_loss_not_linked")

    # J-LIS shows death or move-out; the member is still active, or lost late
    for kind in ("exit_death_still_active", "exit_moveout_still_active", "exit_loss_recorded_late"):
        for m in pick(w, count(w, kind), lambda m: nonjp_ok(m) and m.acq < as_of - d(days=200)
                      and (kind != "exit_death_still_active" or age_of(w, w.persons[m.pid]) >= 35)):
            p = w.persons[m.pid]
            sd = rdate(r, max(m.acq + d(days=60), as_of - d(days=300)), as_of - d(days=8))
            p.status = "deceased" if (kind == "exit_death_still_active" or (kind == "exit_loss_recorded_late" and r.random() < 0.4)) else "moved_out"
            p.sdate = sd
            if kind == "exit_loss_recorded_late":
                m.loss = min(sd + d(days=r.randint(14, 90)), as_of - ONE)
                if m.loss <= sd + ONE:
                    m.loss = sd + d(days=3)
                m.loss_reason = "2" if p.status == "deceased" else "1"
            zero_income(m)
            m.tag(("QUAL_ACTIVE_AFTER_EXIT",), kind)

    # 75: still active past the day after the 75th birthday; boundary traps
    for i in range(count(w, "past_75_still_active") + count(w, "trap_75_boundary_not_past")):
        trap = i >= count(w, "past_75_still_active")
        if trap:
            b75 = as_of - ONE if r.random() < 0.5 else as_of
            birth = add_years(b75, -75)
        else:
            birth = add_years(as_of, -75) - d(days=r.randint(3, 700))
        if birth.month == 2 and birth.day == 29:
            birth -= ONE
        p, hh, parts = _new_single_member(w, birth=birth)
        m = new_member(w, p, hh, None, parts)
        m.no_benefit = True
        zero_income(m)
        m.tag(None if trap else ("QUAL_ACTIVE_PAST_AGE_LIMIT",), "trap_75_boundary_not_past" if trap else "past_75_still_active")

    # the same person twice (same number, name, birth date): the second record acquired years later
    for kind in ("overlap_two_active_records", "overlap_periods", "trap_reenrol_contiguous"):
        for m in pick(w, count(w, kind), lambda m: free(w, m, jp=None, full=True) and m.acq < as_of - d(days=365 * 4)
                      and 19 <= age_of(w, w.persons[m.pid]) <= 66):
            p = w.persons[m.pid]
            hh2 = w.new_hh()
            m2 = new_member(w, p, hh2, None, p.addr_parts)
            m2.addr = m.addr
            m2.name_kanji, m2.name_kana, m2.name_alpha = m.name_kanji, m.name_kana, m.name_alpha
            new_acq = rdate(r, m.acq + d(days=365 * 3), as_of - d(days=120))
            m2.acq = new_acq
            m2.issue = new_acq + d(days=r.randint(3, 15))
            m2.no_category = True
            zero_income(m2)
            if kind == "overlap_periods":
                m.loss = rdate(r, new_acq + d(days=30), as_of - d(days=10))
                m.loss_reason = "9"
            elif kind == "trap_reenrol_contiguous":
                m.loss = new_acq
                m.loss_reason = "9"
            rules = None if kind.startswith("trap") else ("QUAL_OVERLAP",)
            m.tag(rules, kind)
            m2.tag(rules, kind)

    # impossible dates (§2b: such a member is not judged by age/date rules)
    for kind in ("date_acquisition_before_birth", "date_loss_before_acquisition", "date_acquisition_after_as_of",
                 "date_birth_after_as_of"):
        if kind == "date_loss_before_acquisition":
            pred = lambda m: (not m.locked and m.loss is not None and m.loss_reason == "3")  # noqa: E731
        elif kind == "date_birth_after_as_of":
            pred = lambda m: (free(w, m, jp=None) and as_of - d(days=330) < m.birth < as_of - d(days=30)  # noqa: E731
                              and add_years(m.birth, 1) > as_of)
        else:
            pred = lambda m: free(w, m, jp=None) and m.acq > m.birth + d(days=3000)  # noqa: E731
        for m in pick(w, count(w, kind), pred):
            if kind == "date_acquisition_before_birth":
                m.acq = m.birth - d(days=r.randint(30, 3650))
            elif kind == "date_loss_before_acquisition":
                m.loss = m.acq - d(days=r.randint(30, 700))
            elif kind == "date_acquisition_after_as_of":
                m.acq = as_of + d(days=r.randint(30, 400))
            else:
                m.birth = add_years(m.birth, 1)
            m.no_benefit = True
            zero_income(m)
            m.tag(("QUAL_DATE_INVALID",), kind)
