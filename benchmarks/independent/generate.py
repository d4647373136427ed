"""Blind test-feed generator with its own ground truth (issue #9, the independent feed).

    python -m benchmarks.independent.generate OUT_DIR --members N --seed S
        [--profile realistic|hard] [--messy] [--next-month PREV_DIR] [--as-of YYYY-MM-DD]

Writes a feed per ../shared/contract/feeds.md plus truth.csv (the findings the product must
raise), traps.csv (members carrying a trap that must NOT be raised) and generator.json (the
parameters, so that --next-month can rebuild the same people).  Written from the contract and
domain brief alone; see README.md in this folder.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from datetime import date

from . import benefits as B
from . import build as BL
from . import inject as I
from .truth import compute_truth
from .world import INSURER_NUMBER, KOUKI_INSURER_NUMBER, World

DEFAULT_AS_OF = date(2026, 11, 1)

MEMBER_COLS = ["insurer_number", "insurer_type", "member_id", "household_id", "name_kanji", "name_kana",
               "name_alpha", "birth_date", "sex", "address", "individual_number", "individual_number_last4",
               "acquisition_date", "loss_date", "loss_reason", "card_issue_date", "burden_ratio", "limit_category",
               "taxable_income", "kyu_tadashigaki_income", "resident_tax_exempt"]
RESIDENT_COLS = ["resident_id", "individual_number", "name_kanji", "name_kana", "name_alpha", "alias_name",
                 "former_surname", "birth_date", "sex", "address", "municipality_code", "household_id", "status",
                 "status_date", "moved_in_date"]
OQS_COLS = ["insurer_number", "member_id", "individual_number", "individual_number_last4", "name_kanji",
            "name_kana", "name_alpha", "birth_date", "sex", "acquisition_date", "loss_date", "burden_ratio",
            "limit_category"]
HIST_COLS = ["source", "insurer_number", "member_id", "item", "value", "valid_from", "valid_to"]
CARD_COLS = ["insurer_number", "member_id", "registered", "registration_date", "cancellation_code",
             "ecert_expiry_date", "card_returned_date", "self_info_restricted", "kakuninsho_requested",
             "kakuninsho_issued_date", "kakuninsho_valid_until", "oshirase_issued_date", "status_as_of"]
TRUTH_COLS = ["insurer_number", "member_id", "rule_id", "suggested_resident_id", "pattern"]

DATE_COLS = {"birth_date", "acquisition_date", "loss_date", "card_issue_date", "status_date", "moved_in_date",
             "valid_from", "valid_to", "registration_date", "ecert_expiry_date", "card_returned_date",
             "kakuninsho_issued_date", "kakuninsho_valid_until", "oshirase_issued_date", "status_as_of"}
BOOL_COLS = {"resident_tax_exempt", "registered", "self_info_restricted", "kakuninsho_requested"}


# =========================================================================== build
def build_world(seed: int, members: int, profile: str, as_of: date = DEFAULT_AS_OF) -> World:
    w = World(seed, members, profile, as_of)
    w.insurer = INSURER_NUMBER
    BL.build_population(w)
    for m in w.members:
        m.clean = {"acq": m.acq, "loss": m.loss, "birth": m.birth, "issue": m.issue}
    I.inject_mislinks(w)
    I.inject_notation(w)
    I.inject_qualification(w)
    B.set_incomes(w)
    B.income_traps(w)
    B.mirror_exempt(w)
    B.set_ratios(w)
    B.inject_benefits(w)
    B.set_oqs(w)
    B.set_histories(w)
    B.set_cards(w)
    B.inject_cards(w)
    BL.assign_member_ids(w)
    return w


# =========================================================================== writing
def _d(x):
    return x.isoformat() if x else ""


ERAS = [(date(2019, 5, 1), "令和", "R"), (date(1989, 1, 8), "平成", "H"), (date(1926, 12, 25), "昭和", "S")]
LABELS = {"A": "ア", "I": "イ", "U": "ウ", "E": "エ", "O": "オ", "G3": "現役並みⅢ", "G2": "現役並みⅡ", "G1": "現役並みⅠ",
          "IP": "一般", "L2": "低所得Ⅱ", "L1": "低所得Ⅰ"}
OQS_CODES = {"A": "A01", "I": "A02", "U": "A03", "E": "A04", "O": "A05", "G3": "B01", "G2": "B02", "G1": "B03",
             "IP": "B04", "L2": "B05", "L1": "B06"}
FW = str.maketrans("0123456789", "０１２３４５６７８９")


class Messy:
    """Rewrites canonical values in the notations feeds.md accepts (same facts, same truth)."""

    def __init__(self, seed):
        self.r = random.Random(f"messy-{seed}")

    def date(self, iso):
        if not iso:
            return iso
        d = date.fromisoformat(iso)
        r = self.r.random()
        for start, kanji, letter in ERAS:
            if d >= start:
                y = d.year - start.year + 1
                if r < 0.3:
                    ys = "元" if y == 1 else str(y)
                    return f"{kanji}{ys}年{d.month}月{d.day}日"
                if r < 0.45:
                    return f"{letter}{y:02d}.{d.month:02d}.{d.day:02d}"
                if r < 0.55:
                    return f"{letter}{y}/{d.month}/{d.day}"
                break
        if r < 0.8:
            return d.strftime("%Y/%m/%d")
        return d.strftime("%Y%m%d")

    def value(self, col, v):
        if v == "" or v is None:
            return v
        r = self.r.random()
        if col in DATE_COLS:
            return self.date(v)
        if col == "sex":
            return (["男", "女"] if r < 0.6 else ["M", "F"])[int(v) - 1]
        if col in ("burden_ratio",) or (col == "value" and v in ("10", "20", "30")):
            return f"{v[0]}割" if r < 0.6 else v[0]
        if col in ("limit_category",) or (col == "value" and v in LABELS):
            return LABELS[v] if r < 0.45 else (OQS_CODES[v] if r < 0.8 else v)
        if col == "individual_number" and len(v) == 12:
            if r < 0.35:
                return f"{v[:4]}-{v[4:8]}-{v[8:]}"
            if r < 0.6:
                return v.translate(FW)
            if r < 0.7:
                return f"{v[:4]} {v[4:8]} {v[8:]}"
            return v
        if col == "individual_number_last4":
            return v.translate(FW) if r < 0.5 else v
        if col in BOOL_COLS:
            return {"0": ["無", "false"], "1": ["有", "true"]}[v][0 if r < 0.5 else 1]
        return v


def write_csv(path, cols, rows, messy: Messy | None = None):
    if messy is not None:
        order = list(cols)
        messy.r.shuffle(order)
        header = [c.upper() if messy.r.random() < 0.7 else c for c in order]
        out_rows = [[messy.value(c, row.get(c, "")) for c in order] for row in rows]
    else:
        header, out_rows = cols, [[row.get(c, "") for c in cols] for row in rows]
    import io
    buf = io.StringIO()
    eol = "\r\n" if (messy is not None and messy.r.random() < 0.5) else "\n"  # Windows exports
    wr = csv.writer(buf, lineterminator=eol)
    wr.writerow(header)
    wr.writerows(out_rows)
    text = buf.getvalue()
    if messy is not None and messy.r.random() < 0.7:
        try:
            data = text.encode("cp932")
        except UnicodeEncodeError:
            data = text.encode("utf-8-sig")
    else:
        data = text.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def _b(x):
    return "1" if x else "0"


def feed_rows(w):
    as_of = w.as_of
    mem, oqs, hist, card = [], [], [], []
    for m in w.members:
        num = m.num or ""
        last4 = m.last4 or (m.num[-4:] if (m.num and m.extra_num_also_last4 and len(m.num) == 12) else "")
        base = {"insurer_number": KOUKI_INSURER_NUMBER if m.itype == "kouki" else w.insurer, "member_id": m.mid}
        mem.append({**base, "insurer_type": m.itype, "household_id": m.hh, "name_kanji": m.name_kanji,
                    "name_kana": m.name_kana, "name_alpha": m.name_alpha or "", "birth_date": _d(m.birth),
                    "sex": str(m.sex), "address": m.addr, "individual_number": num, "individual_number_last4": last4,
                    "acquisition_date": _d(m.acq), "loss_date": _d(m.loss), "loss_reason": m.loss_reason or "",
                    "card_issue_date": _d(m.issue), "burden_ratio": str(m.ratio), "limit_category": m.cat or "",
                    "taxable_income": str(m.taxable or 0), "kyu_tadashigaki_income": str(m.kyu or 0),
                    "resident_tax_exempt": _b(m.exempt)})
        oqs.append({**base, "individual_number": num, "individual_number_last4": m.last4 or "",
                    "name_kanji": m.name_kanji, "name_kana": m.name_kana, "name_alpha": m.name_alpha or "",
                    "birth_date": _d(m.birth), "sex": str(m.sex), "acquisition_date": _d(m.oqs_acq),
                    "loss_date": _d(m.oqs_loss), "burden_ratio": str(m.oqs_ratio), "limit_category": m.oqs_cat or ""})
        for (src, item, v, f, t) in m.hist:
            hist.append({"source": src, **base, "item": item, "value": str(v), "valid_from": _d(f), "valid_to": _d(t)})
        if m.card is not None:
            c = m.card
            card.append({**base, "registered": _b(c["registered"]), "registration_date": _d(c["registration_date"]),
                         "cancellation_code": c["cancellation_code"] or "",
                         "ecert_expiry_date": _d(c["ecert_expiry_date"]),
                         "card_returned_date": _d(c["card_returned_date"]),
                         "self_info_restricted": _b(c["self_info_restricted"]),
                         "kakuninsho_requested": _b(c["kakuninsho_requested"]),
                         "kakuninsho_issued_date": _d(c["kakuninsho_issued_date"]),
                         "kakuninsho_valid_until": _d(c["kakuninsho_valid_until"]),
                         "oshirase_issued_date": _d(c["oshirase_issued_date"]), "status_as_of": _d(c["status_as_of"])})
    linked = {m.num for m in w.members if m.num}
    res = []
    for p in w.persons:
        if p.omit or not (p.own or p.num in linked):
            continue
        res.append({"resident_id": p.rid, "individual_number": p.num, "name_kanji": p.kanji, "name_kana": "" if p.no_kana else (p.kana or ""),
                    "name_alpha": p.alpha or "", "alias_name": p.alias or "", "former_surname": p.former or "",
                    "birth_date": _d(p.birth), "sex": str(p.sex), "address": p.addr, "municipality_code": p.muni,
                    "household_id": p.hh, "status": p.status, "status_date": _d(p.sdate),
                    "moved_in_date": _d(p.moved_in)})
    rr = random.Random(f"order-{w.seed}-{w.month}")
    rr.shuffle(res)
    return mem, res, oqs, hist, card


def write_feed(w, out_dir, messy=False, params=None):
    os.makedirs(out_dir, exist_ok=True)
    mem, res, oqs, hist, card = feed_rows(w)
    mz = Messy(f"{w.seed}-{w.month}") if messy else None
    write_csv(os.path.join(out_dir, "members.csv"), MEMBER_COLS, mem, mz)
    write_csv(os.path.join(out_dir, "residents.csv"), RESIDENT_COLS, res, mz)
    write_csv(os.path.join(out_dir, "oqs.csv"), OQS_COLS, oqs, mz)
    write_csv(os.path.join(out_dir, "benefit_history.csv"), HIST_COLS, hist, mz)
    write_csv(os.path.join(out_dir, "card_status.csv"), CARD_COLS, card, mz)
    period = w.as_of.strftime("%Y-%m")
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"as_of": w.as_of.isoformat(), "period": period,
                   "source": f"independent generator, {w.profile}, seed {w.seed}, month {w.month}"}, f, ensure_ascii=False)
    truth, traps, warnings = compute_truth(w)
    write_csv(os.path.join(out_dir, "truth.csv"), TRUTH_COLS, truth)
    write_csv(os.path.join(out_dir, "traps.csv"), ["insurer_number", "member_id", "pattern"], traps)
    with open(os.path.join(out_dir, "generator.json"), "w", encoding="utf-8") as f:
        json.dump(params or {}, f)
    carried = getattr(w, "carried", None)
    if carried is not None:
        write_csv(os.path.join(out_dir, "carried.csv"), TRUTH_COLS, carried)
    return truth, traps, warnings, len(mem), len(res)


def summarise(truth, traps):
    from collections import Counter
    by_rule = Counter(t["rule_id"] for t in truth)
    by_pat = Counter((t["rule_id"], t["pattern"]) for t in truth)
    return by_rule, by_pat, Counter(t["pattern"] for t in traps)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.independent.generate", description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--members", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=["realistic", "hard"], default="realistic")
    ap.add_argument("--messy", action="store_true", help="same feed and truth, messy notation")
    ap.add_argument("--next-month", metavar="PREV_DIR", help="write the month after PREV_DIR (same people)")
    ap.add_argument("--as-of", default=None, help="基準日 of the first month (default 2026-11-01)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.time()
    if a.next_month:
        from .nextmonth import evolve_to
        gj = os.path.join(a.next_month, "generator.json")
        if not os.path.exists(gj):
            print(f"{gj}: not found — PREV_DIR must be written by this generator", file=sys.stderr)
            return 2
        with open(gj, encoding="utf-8") as f:
            prev = json.load(f)
        params = {**prev, "month": prev.get("month", 0) + 1, "messy": a.messy}
        w = build_world(params["seed"], params["members"], params["profile"], date.fromisoformat(params["as_of"]))
        evolve_to(w, params["month"])
    else:
        as_of = date.fromisoformat(a.as_of) if a.as_of else DEFAULT_AS_OF
        params = {"seed": a.seed, "members": a.members, "profile": a.profile, "as_of": as_of.isoformat(), "month": 0,
                  "messy": a.messy}
        w = build_world(a.seed, a.members, a.profile, as_of)
    truth, traps, warnings, nm, nr = write_feed(w, a.out_dir, a.messy, params)
    by_rule, by_pat, by_trap = summarise(truth, traps)
    if not a.quiet:
        print(f"wrote {a.out_dir}: {nm} member rows, {nr} resident rows, as_of {w.as_of}, "
              f"{len(truth)} truth rows, {len(traps)} trap rows ({time.time() - t0:.1f}s)")
        for rule, n in sorted(by_rule.items()):
            print(f"  {rule:30s} {n:6d}")
    if warnings:
        print(f"generator consistency warnings: {len(warnings)}", file=sys.stderr)
        for x in warnings[:20]:
            print("  " + x, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
