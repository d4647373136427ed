"""The following month: same people, as_of one month later; some problems fixed, most persisting
unchanged (same facts → the product should keep their finding ids), some new; ordinary churn
(births, move-ins, deaths, move-outs, 75th birthdays) handled correctly by the insurer."""
from __future__ import annotations

import random
from datetime import date, timedelta

from . import benefits as B
from . import build as BL
from . import inject as I
from .truth import compute_truth
from .world import (ONE, add_months, add_years, expected_category, expected_ratio, hh_income_70, month_end,
                    past_75)

D = timedelta
FIX_SHARE = 0.35
NEW_SCALE = 0.35
BENEFIT_RULES = {"BURDEN_RATIO_RULE", "LIMIT_CATEGORY_RULE", "BURDEN_RATIO_OQS_MISMATCH",
                 "LIMIT_CATEGORY_OQS_MISMATCH", "BENEFIT_HISTORY_DIVERGENCE"}


def _problem_tags(m):
    return [t for t in m.tags if t[0]]


def _fix(w, m, t, by_person, hm):
    rules = set(t[0])
    p = w.persons[m.pid]
    as_of = w.as_of
    if rules & {"MISLINK_SUSPECTED", "NUMBER_SHARED", "NUMBER_INVALID", "RESIDENT_NOT_FOUND"}:
        if p.omit:
            return False  # the resident is not in the extract: nothing the insurer can fix this month
        if m.last4 is not None and m.num is None and t[1].startswith("last4"):
            m.last4 = p.num[-4:]
        else:
            m.num = p.num
    elif "NOTATION_DIFFERENCE" in rules:
        m.name_kanji, m.name_kana, m.name_alpha = p.kanji, p.kana, p.alpha
    elif "QUAL_DATE_IS_ISSUE_DATE" in rules:
        m.acq = m.oqs_acq = max(p.moved_in, p.birth)
    elif rules & {"QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED"}:
        m.oqs_acq, m.oqs_loss = m.acq, m.loss
    elif "QUAL_ACTIVE_AFTER_EXIT" in rules:
        m.loss = p.sdate + ONE if p.status == "deceased" else p.sdate
        m.loss_reason = "2" if p.status == "deceased" else "1"
        m.oqs_loss = m.loss
        m.card = None
    elif "QUAL_ACTIVE_PAST_AGE_LIMIT" in rules:
        m.loss = m.oqs_loss = add_years(m.birth, 75) + ONE
        m.loss_reason = "4"
        m.card = None
    elif "QUAL_OVERLAP" in rules:
        recs = sorted(by_person[m.pid], key=lambda x: x.acq)
        if len(recs) < 2:
            return False
        old, new = recs[0], recs[-1]
        old.loss = old.oqs_loss = new.acq
        old.loss_reason = "9"
        old.card = None
        for x in recs:
            x.tags = [u for u in x.tags if not (u[0] and "QUAL_OVERLAP" in u[0])] + [(None, "fixed_" + t[1], None)]
        return True
    elif "QUAL_DATE_INVALID" in rules:
        if not m.clean:
            return False
        m.acq, m.loss, m.birth = m.clean["acq"], m.clean["loss"], m.clean["birth"]
        m.oqs_acq, m.oqs_loss = m.acq, m.loss
        m.no_benefit = False  # judged again by the age and date rules from now on
    elif rules & BENEFIT_RULES:
        if "BENEFIT_HISTORY_DIVERGENCE" in rules:
            ins = [h for h in m.hist if h[0] == "insurer"]
            m.hist = ins + [("oqs",) + h[1:] for h in ins]
        if "BURDEN_RATIO_OQS_MISMATCH" in rules:
            m.oqs_ratio = m.ratio
        if "LIMIT_CATEGORY_OQS_MISMATCH" in rules:
            m.oqs_cat = m.cat
        # rule problems are fixed by the generic recomputation below (tag removed → clean)
    elif "KAKUNINSHO_NOT_ISSUED" in rules:
        if m.card is None:
            return False
        m.card["kakuninsho_issued_date"] = as_of - D(days=w.rng.randint(3, 20))
        m.card["kakuninsho_valid_until"] = date(as_of.year + 1, 7, 31)
    else:
        return False
    m.tags = [u for u in m.tags if u is not t] + [(None, "fixed_" + t[1], None)]
    return True


def _churn(w, prev_as_of):
    r = w.rng
    as_of = w.as_of
    window = (prev_as_of, as_of - D(days=2))
    clean = [m for m in w.members if not m.locked and m.active(as_of) and m.itype == "kokuho"
             and w.persons[m.pid].status == "active" and w.persons[m.pid].own]
    r.shuffle(clean)
    n = len(clean)
    k_death, k_move, k_emp = max(1, int(n * 0.0008)), max(1, int(n * 0.0015)), max(1, int(n * 0.001))
    for m in clean[:k_death + k_move + k_emp]:
        p = w.persons[m.pid]
        sd = BL.rdate(r, *window)
        if k_death > 0 and BL.age_of(w, p) >= 55:
            k_death -= 1
            p.status, p.sdate = "deceased", sd
            m.loss, m.loss_reason = sd + ONE, "2"
        elif k_move > 0:
            k_move -= 1
            p.status, p.sdate = "moved_out", sd
            m.loss, m.loss_reason = (sd if r.random() < 0.7 else sd + ONE), "1"
        else:
            m.loss, m.loss_reason = sd, "3"
        m.oqs_loss = m.loss
        m.card = None
        m.locked = True
        m.tags.append((None, "churn_lost_this_month", None))
    # 75th birthdays: lost the day after, recorded on time
    for m in w.members:
        if m.itype != "kokuho" or any(t[0] for t in m.tags):
            continue
        if m.active(as_of) and m.loss is None:
            b75 = add_years(m.birth, 75)
            if b75 + ONE <= as_of:
                m.loss = m.oqs_loss = b75 + ONE
                m.loss_reason = "4"
                m.card = None
                if m.itype == "kokuho" and r.random() < 0.7:
                    p = w.persons[m.pid]
                    k = BL.new_member(w, p, m.hh, None, p.addr_parts, itype="kouki")
                    k.acq, k.issue = b75, b75 - D(days=r.randint(10, 25))
                    k.no_benefit = k.no_income = k.locked = True
                    k.ratio, k.cat = 10, None
                    k.card = B._card(w, 1)
                    k.tags.append((None, "trap_legal_one_day_overlap_kouki", None))
                    m.tags.append((None, "trap_legal_one_day_overlap_kouki", None))
    # move-ins and births
    new_members = []
    for _ in range(max(1, int(n * 0.002))):
        kind = r.choice(["single_adult", "single_adult", "family", "couple_mid", "single_elderly"])
        hh, ps, kok, parts = BL.make_household(w, kind)
        mi = BL.rdate(r, *window)
        for p, k in zip(ps, kok):
            p.moved_in = max(mi, p.birth)
            if k and p.birth < mi:
                m = BL.new_member(w, p, hh, None, parts)
                m.acq = mi
                m.issue = min(mi + D(days=r.randint(2, 10)), as_of)
                new_members.append(m)
    fam = [m for m in clean[k_death + k_move + k_emp:] if 25 <= BL.age_of(w, w.persons[m.pid]) <= 42 and m.sex == 2]
    for mother in fam[:max(1, int(n * 0.0005))]:
        mp = w.persons[mother.pid]
        b = BL.rdate(r, *window)
        p = BL._jp_person(w, r.choice([1, 2]), b, mp.sur, mp.hh, mp.addr, None)
        p.addr_parts = mp.addr_parts
        p.kanji = f"{mp.kanji.split(' ')[0]} {p.giv[0]}"
        w.households[mp.hh].append(p)
        m = BL.new_member(w, p, mother.hh, None, mp.addr_parts)
        m.acq = b
        m.issue = min(b + D(days=r.randint(5, 14)), as_of)
        new_members.append(m)
    for m in new_members:
        age = BL.age_of(w, w.persons[m.pid])
        m.taxable, m.kyu, m.exempt = BL._income(w, m, age)
        m.oqs_acq = m.acq
        if r.random() < 0.75 and age >= 10:
            m.card = B._card(w, 1)
        else:
            m.card = B._card(w, 0, kakuninsho_issued_date=m.issue, kakuninsho_valid_until=date(m.issue.year + 2, 7, 31))
        m.tags.append((None, "churn_new_member_this_month", None))
    return new_members


def _recompute_clean(w):
    """Members without a benefit problem get the values the rules give on the new as_of (insurer and
    OQS alike); a history gets a new period when the value changes."""
    as_of = w.as_of
    for hh, ms in I.hh_members(w).items():
        act = [m for m in ms if m.active(as_of)]
        inc = hh_income_70(act, as_of)
        for m in ms:
            if not m.active(as_of) or m.birth > as_of or m.no_benefit or m.itype != "kokuho":
                continue
            if any(t[0] and set(t[0]) & BENEFIT_RULES for t in m.tags):
                continue
            ratio = expected_ratio(m.birth, as_of, inc)
            cat = None if (m.cat is None) else expected_category(m, act, as_of)
            for item, old, new in (("burden_ratio", m.ratio, ratio), ("limit_category", m.cat, cat)):
                if old == new or new is None:
                    continue
                start = as_of
                hist = []
                for h in m.hist:
                    if h[1] == item and h[4] is None:
                        h = h[:4] + (start - ONE,)
                    hist.append(h)
                if any(h[1] == item for h in m.hist):
                    hist += [("insurer", item, new, start, None), ("oqs", item, new, start, None)]
                m.hist = hist
            m.ratio = m.oqs_ratio = ratio
            if cat is not None:
                m.cat = m.oqs_cat = cat


def _advance_cards(w):
    as_of = w.as_of
    first = date(as_of.year, as_of.month, 1)
    two = add_months(first, -2)
    soa = month_end(two.year, two.month)
    for m in w.members:
        c = m.card
        if c is None:
            continue
        lag = any(t[1] == "trap_status_as_of_lagging" for t in m.tags)
        c["status_as_of"] = (date(soa.year, soa.month, 1) - ONE) if lag else soa
        has_problem = any(t[0] and "KAKUNINSHO_NOT_ISSUED" in t[0] for t in m.tags)
        vu = c["kakuninsho_valid_until"]
        if not has_problem and vu and vu < as_of + D(days=40) and not any(
                t[1] in ("trap_kakuninsho_valid_until_is_as_of", "trap_kakuninsho_expired_not_a_target") for t in m.tags):
            c["kakuninsho_issued_date"] = vu - D(days=20)
            c["kakuninsho_valid_until"] = date(vu.year + 1, 7, 31)


def _defaults_for_new(w, members):
    as_of = w.as_of
    hm = I.hh_members(w)
    for m in members:
        if m.ratio is None:
            if not m.no_income and m.active(as_of) and m.birth <= as_of:
                m.taxable, m.kyu, m.exempt = BL._income(w, m, BL.age_of(w, w.persons[m.pid]))
            act = [x for x in hm.get(m.hh, []) if x.active(as_of)]
            if m.birth > as_of:
                m.ratio = 20
            elif not m.active(as_of):
                m.ratio = expected_ratio(m.birth, m.loss - ONE, False) if m.loss > m.birth else 30
            else:
                m.ratio = expected_ratio(m.birth, as_of, hh_income_70(act, as_of))
                if not (m.no_benefit or m.no_category or B.boundary70(m.birth, as_of)):
                    m.cat = expected_category(m, act, as_of)
        if m.card is None and m.active(as_of):
            m.card = B._card(w, 1)


def evolve_one(w, k):
    prev_as_of = w.as_of
    prev_truth, _, _ = compute_truth(w)
    w.month = k
    w.as_of = add_months(prev_as_of, 1)
    w.rng = random.Random(f"{w.seed}-{w.profile}-month-{k}")
    r = w.rng
    by_person = {}
    for m in w.members:
        by_person.setdefault(m.pid, []).append(m)
    hm = I.hh_members(w)
    for m in list(w.members):
        for t in list(_problem_tags(m)):
            if t in m.tags and r.random() < FIX_SHARE:
                _fix(w, m, t, by_person, hm)
    # the trap of last month that is no longer a trap (its date moved past as_of) is retagged
    for m in w.members:
        m.tags = [t for t in m.tags if t[1] != "trap_75_boundary_not_past"] + (
            [(("QUAL_ACTIVE_PAST_AGE_LIMIT",), "past_75_still_active", None)]
            if any(t[1] == "trap_75_boundary_not_past" for t in m.tags) and past_75(m.birth, w.as_of) and m.active(w.as_of)
            else [])
    # a 資格確認書 valid until last month's as_of has now expired: a new problem, not a trap any more
    for m in w.members:
        if any(t[1] == "trap_kakuninsho_valid_until_is_as_of" for t in m.tags) and m.card is not None:
            m.tags = [t for t in m.tags if t[1] != "trap_kakuninsho_valid_until_is_as_of"] + [
                (("KAKUNINSHO_NOT_ISSUED",), "kakuninsho_expired_since_last_month", None)]
    _churn(w, prev_as_of)
    # new problems this month (fewer than in the first month)
    w.rate_scale = NEW_SCALE
    snap = {id(m): (m.acq, m.loss, m.ratio, m.cat) for m in w.members}
    n_before = len(w.members)
    I.inject_mislinks(w)
    I.inject_notation(w)
    I.inject_qualification(w)
    _defaults_for_new(w, [m for m in w.members[n_before:] if m.ratio is None])
    B.mirror_exempt(w)
    B.inject_benefits(w)
    _defaults_for_new(w, [m for m in w.members if m.ratio is None or (m.card is None and m.active(w.as_of) and m.clean is None)])
    B.inject_cards(w)
    w.rate_scale = 1.0
    # what the insurer changed this month went online as it was (unless the problem is the online copy)
    for m in w.members:
        if id(m) not in snap:
            continue
        acq, loss, ratio, cat = snap[id(m)]
        rules = set().union(*[set(t[0]) for t in m.tags if t[0]]) if m.tags else set()
        if (m.acq, m.loss) != (acq, loss) and not rules & {"QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED"}:
            m.oqs_acq, m.oqs_loss = m.acq, m.loss
        if (m.ratio, m.cat) != (ratio, cat) and not rules & {"BURDEN_RATIO_OQS_MISMATCH", "LIMIT_CATEGORY_OQS_MISMATCH"}:
            m.oqs_ratio, m.oqs_cat = m.ratio, m.cat
    B.set_oqs(w)
    _recompute_clean(w)
    _advance_cards(w)
    BL.assign_member_ids(w)
    new_truth, _, warnings = compute_truth(w)
    gone = {x.split(" ")[3] + "|" + x.split(" ")[4] for x in warnings if x.startswith("tag without truth")}
    if gone:  # e.g. a 70-year-old's band started this month: last month's wrong 20 % is now right
        for m in w.members:
            m.tags = [(None, "now_right_" + t[1], None) if (t[0] and f"{m.mid}|{t[1]}" in gone) else t for t in m.tags]
        _recompute_clean(w)
        new_truth, _, _ = compute_truth(w)
    prev_keys = {(t["member_id"], t["rule_id"]) for t in prev_truth}
    w.carried = [t for t in new_truth if (t["member_id"], t["rule_id"]) in prev_keys]


def evolve_to(w, months):
    for k in range(1, months + 1):
        evolve_one(w, k)
