"""The generator's own truth: findings.md's catalogue and domain.md §1–8 on the true world."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from .world import (KOUKI_INSURER_NUMBER, ONE, G_CODES, LOW_CODES, add_years, expected_category, expected_ratio, hh_income_70,
                    histories_diverge, in_band70, past_75, valid_number)

RULES = ["MISLINK_SUSPECTED", "NUMBER_SHARED", "NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NOTATION_DIFFERENCE",
         "BURDEN_RATIO_OQS_MISMATCH", "BURDEN_RATIO_RULE", "LIMIT_CATEGORY_OQS_MISMATCH", "LIMIT_CATEGORY_RULE",
         "BENEFIT_HISTORY_DIVERGENCE", "QUAL_DATE_IS_ISSUE_DATE", "QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED",
         "QUAL_ACTIVE_AFTER_EXIT", "QUAL_ACTIVE_PAST_AGE_LIMIT", "QUAL_OVERLAP", "QUAL_DATE_INVALID",
         "KAKUNINSHO_NOT_ISSUED", "FEED_DRIFT"]


def kakuninsho_target(c, as_of):
    return bool(not c["registered"] or c["cancellation_code"] in ("1", "2")
                or (c["ecert_expiry_date"] and c["ecert_expiry_date"] < as_of)
                or (c["card_returned_date"] and c["card_returned_date"] <= as_of)
                or c["self_info_restricted"] or c["kakuninsho_requested"])


def kakuninsho_valid(c, as_of, years=5):
    if c["kakuninsho_valid_until"]:
        return c["kakuninsho_valid_until"] >= as_of
    return bool(c["kakuninsho_issued_date"] and c["kakuninsho_issued_date"] <= as_of
                and c["kakuninsho_issued_date"] > add_years(as_of, -years))


def insurer_of(w, m):
    return KOUKI_INSURER_NUMBER if m.itype == "kouki" else w.insurer


def legal_one_day(a, b):
    """国保 → 後期 / employer insurance: 国保 lost the day after the other began (domain §6)."""
    for x, y in ((a, b), (b, a)):
        if x.itype in ("kokuho", "kumiai") and y.itype in ("kouki", "employee") and x.loss is not None \
                and x.loss == y.acq + ONE:
            return True
    return False


def resident_output(p):
    return not p.omit


def compute_truth(w):
    """Returns (truth rows, traps rows, warnings)."""
    as_of = w.as_of
    P = w.persons
    holders = defaultdict(list)
    for m in w.members:
        if m.num and valid_number(m.num):
            holders[m.num].append(m)
    hh = defaultdict(list)
    for m in w.members:
        if m.active(as_of):
            hh[m.hh].append(m)
    found: dict[tuple, dict] = {}
    warnings = []

    def add(m, rule, sugg=None):
        found[(m.mid, rule)] = {"suggested": sugg}

    for m in w.members:
        p = P[m.pid]
        resident = None
        if m.num is None and m.last4 is None:
            add(m, "NUMBER_INVALID")
        elif m.num is not None:
            if not valid_number(m.num):
                add(m, "NUMBER_INVALID")
            else:
                L = w.by_num.get(m.num)
                if L is None or L.omit:
                    add(m, "RESIDENT_NOT_FOUND")
                elif L is not p:
                    persons = {x.pid for x in holders[m.num]}
                    add(m, "NUMBER_SHARED" if len(persons) > 1 else "MISLINK_SUSPECTED", None if p.omit else p.rid)
                    resident = L
                else:
                    resident = p
        else:
            if p.omit:
                add(m, "RESIDENT_NOT_FOUND")
            elif p.num[-4:] != m.last4:
                add(m, "MISLINK_SUSPECTED", p.rid)
            else:
                resident = p
        if resident is p:
            differ = (m.name_kanji != p.kanji or (m.name_kana != p.kana and not p.no_kana)
                      or (m.name_alpha and p.alpha and m.name_alpha != p.alpha))
            tagged = any(t[0] and "NOTATION_DIFFERENCE" in t[0] for t in m.tags)
            if differ:
                add(m, "NOTATION_DIFFERENCE")
                if not tagged:
                    warnings.append(f"untagged notation difference {m.mid}")
            elif tagged:
                warnings.append(f"notation tag without difference {m.mid}")

        invalid = (m.birth > as_of or m.acq < m.birth or (m.loss is not None and m.loss < m.acq) or m.acq > as_of
                   or (m.loss is not None and m.loss > as_of) or (m.issue is not None and m.issue > as_of))
        active = m.active(as_of)
        if invalid:
            add(m, "QUAL_DATE_INVALID")
        else:
            R = resident
            if R is not None and R.status in ("moved_out", "deceased") and R.sdate and R.sdate <= as_of:
                if active or m.loss > R.sdate + ONE:
                    add(m, "QUAL_ACTIVE_AFTER_EXIT")
            if active and m.itype in ("kokuho", "kumiai") and past_75(m.birth, as_of):
                add(m, "QUAL_ACTIVE_PAST_AGE_LIMIT")
            if (R is not None and m.issue is not None and m.acq == m.issue and R.moved_in is not None
                    and R.moved_in < m.acq):
                add(m, "QUAL_DATE_IS_ISSUE_DATE")
            if active and not past_75(m.birth, as_of) and not m.no_benefit:
                act = hh[m.hh]
                exp = expected_ratio(m.birth, as_of, hh_income_70(act, as_of))
                ratio_bad = m.ratio != exp
                if ratio_bad:
                    add(m, "BURDEN_RATIO_RULE")
                if m.cat:
                    ec = expected_category(m, act, as_of)
                    if m.cat != ec:
                        folded = False
                        if ratio_bad and in_band70(m.birth, as_of):
                            folded = (m.ratio == 30 and m.cat in G_CODES) or (m.ratio == 20 and m.cat in LOW_CODES)
                        if not folded:
                            add(m, "LIMIT_CATEGORY_RULE")
        if active:
            if m.oqs_ratio != m.ratio:
                add(m, "BURDEN_RATIO_OQS_MISMATCH")
            if m.cat and m.oqs_cat and m.cat != m.oqs_cat:
                add(m, "LIMIT_CATEGORY_OQS_MISMATCH")
        if m.loss is not None and m.oqs_loss is None:
            add(m, "QUAL_LOSS_NOT_LINKED")
        elif m.oqs_acq != m.acq or m.oqs_loss != m.loss:
            add(m, "QUAL_DATE_OQS_MISMATCH")
        if histories_diverge(m.hist):
            add(m, "BENEFIT_HISTORY_DIVERGENCE")
        if active and m.card is not None and not invalid:
            if kakuninsho_target(m.card, as_of) and not kakuninsho_valid(m.card, as_of):
                add(m, "KAKUNINSHO_NOT_ISSUED")

    # the same person holding overlapping qualifications (both records)
    by_person = defaultdict(list)
    for m in w.members:
        by_person[m.pid].append(m)
    for pid, ms in by_person.items():
        if len(ms) < 2:
            continue
        for i, a in enumerate(ms):
            for b in ms[i + 1:]:
                ea, eb = a.loss or date.max, b.loss or date.max
                if a.acq < eb and b.acq < ea and not legal_one_day(a, b):
                    add(a, "QUAL_OVERLAP")
                    add(b, "QUAL_OVERLAP")

    rows = []
    byid = {m.mid: m for m in w.members}
    for (mid, rule), v in sorted(found.items()):
        m = byid[mid]
        pat = None
        for t in m.tags:
            if t[0] and rule in t[0]:
                pat = t[1]
                break
        if pat is None and rule in ("MISLINK_SUSPECTED", "NUMBER_SHARED"):
            pat = next((t[1] for t in m.tags if t[0] and set(t[0]) & {"MISLINK_SUSPECTED", "NUMBER_SHARED"}), None)
        if pat is None and getattr(w, "month", 0) > 0 and rule in ("LIMIT_CATEGORY_RULE", "BURDEN_RATIO_RULE"):
            pat = "household_changed_this_month"  # a member's persisting error now meets a changed household
        if pat is None:
            pat = "untagged"
            warnings.append(f"untagged truth {mid} {rule}")
        rows.append({"insurer_number": insurer_of(w, m), "member_id": mid, "rule_id": rule,
                     "suggested_resident_id": v["suggested"] or "", "pattern": pat})
    # tags whose rule was not produced (generator consistency)
    for m in w.members:
        for t in m.tags:
            if t[0] and not any((m.mid, r) in found for r in t[0]):
                warnings.append(f"tag without truth {m.mid} {t[1]}")
    traps = []
    for m in w.members:
        for t in m.tags:
            if t[0] is None:
                traps.append({"insurer_number": insurer_of(w, m), "member_id": m.mid, "pattern": t[1]})
    return rows, traps, warnings
