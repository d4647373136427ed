"""翌月のフィード / the following month of a synthetic feed (``reconcile generate --previous PREV_FEED``).

The same people one month later: ``as_of`` moves to the first of the next month and ``period`` with
it; some of last month's injected problems were fixed by the insurer (a mis-linked number replaced by
the right one, a notation brought in line with the registry, an OQS copy corrected), the others
persist, and a few new ones appear (a number typed onto another resident, a name sent in half-width
kana). ``truth.csv`` is rewritten to match: persisting rows, then the new ones.

Works on the files (any of the contract encodings, kept as they were), so it follows any feed the
generator wrote, whatever seed and size. Every value is handled as text: no parsing, no reformatting
of what is not changed.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jaconv
import numpy as np
import pandas as pd

from reconcile.synth.world import TRUTH_COLUMNS

#: Share of last month's fixable problems the insurer fixed.
FIX_SHARE = 0.5
#: New problems per 1,000 members (at least one of each kind).
NEW_PER_1000 = {"mislink": 1.0, "notation": 2.0}
FIXABLE_MISLINK = ("MISLINK_SUSPECTED", "NUMBER_SHARED")
FIXABLE_NOTATION = ("NOTATION_DIFFERENCE",)
FIXABLE_OQS = {"BURDEN_RATIO_OQS_MISMATCH": "burden_ratio", "LIMIT_CATEGORY_OQS_MISMATCH": "limit_category"}


@dataclass
class FollowupResult:
    out_dir: Path
    as_of: pd.Timestamp
    period: str
    fixed: int
    persisting: int
    new: int
    counts: dict[str, int] = field(default_factory=dict)


def _read(path: Path) -> tuple[pd.DataFrame, str]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932", "shift_jis_2004", "euc_jp"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        return frame, encoding
    raise ValueError(f"{path}: cannot decode as UTF-8, CP932, Shift_JIS-2004 or EUC-JP")


def _write(frame: pd.DataFrame, path: Path, encoding: str) -> None:
    text = frame.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    path.write_bytes(text.encode(encoding, errors="strict"))


def _next_month(as_of: pd.Timestamp) -> pd.Timestamp:
    return (pd.Timestamp(as_of).normalize().replace(day=1) + pd.offsets.MonthBegin(1))


def generate_followup(previous: str | Path, out_dir: str | Path, *, seed: int = 0) -> FollowupResult:
    """Write the month after the feed ``previous`` into ``out_dir`` (see the module doc)."""
    prev, out = Path(previous), Path(out_dir)
    if not (prev / "members.csv").exists() or not (prev / "residents.csv").exists():
        raise FileNotFoundError(f"{prev} is not a feed (members.csv and residents.csv needed)")
    if out.resolve() == prev.resolve():
        raise ValueError("the following month must go to another folder than the previous feed")
    rng = np.random.default_rng(seed + 7919)
    manifest = json.loads((prev / "manifest.json").read_text(encoding="utf-8")) if (prev / "manifest.json").exists() else {}
    members, members_enc = _read(prev / "members.csv")
    residents, _ = _read(prev / "residents.csv")
    truth = pd.read_csv(prev / "truth.csv", dtype=str, keep_default_na=False) if (prev / "truth.csv").exists() \
        else pd.DataFrame(columns=TRUTH_COLUMNS)
    as_of = pd.Timestamp(manifest.get("as_of") or pd.Timestamp.today()).normalize()
    next_as_of = _next_month(as_of)

    out.mkdir(parents=True, exist_ok=True)
    for path in prev.iterdir():
        if path.is_file() and path.name not in ("members.csv", "truth.csv", "manifest.json", "oqs.csv", "_READY"):
            shutil.copyfile(path, out / path.name)

    member_pos = {(i, m): p for p, (i, m) in enumerate(zip(members["insurer_number"], members["member_id"]))}
    resident_pos = {r: p for p, r in enumerate(residents["resident_id"])}
    fixed_rows: set[int] = set()

    # Mis-links: the member gets the true resident's number (household swaps are fixed as pairs: all or none).
    mislinks = truth.loc[truth["rule_id"].isin(FIXABLE_MISLINK) & (truth["true_resident_id"] != "")]
    swaps = mislinks.loc[mislinks["pattern"] == "household_swap"]
    others = mislinks.loc[mislinks["pattern"] != "household_swap"]
    chosen = list(others.index[rng.random(len(others)) < FIX_SHARE])
    if len(swaps) and rng.random() < FIX_SHARE + 0.25:
        chosen += list(swaps.index)
    for row in chosen:
        key = (truth.at[row, "insurer_number"], truth.at[row, "member_id"])
        pos, rpos = member_pos.get(key), resident_pos.get(truth.at[row, "true_resident_id"])
        if pos is None or rpos is None:
            continue
        number = residents.at[rpos, "individual_number"] if "individual_number" in residents.columns else ""
        last4 = residents.at[rpos, "individual_number_last4"] if "individual_number_last4" in residents.columns else ""
        if members.at[pos, "individual_number"] and number:
            members.at[pos, "individual_number"] = number
        elif "individual_number_last4" in members.columns:
            members.at[pos, "individual_number_last4"] = (last4 or number[-4:])
        fixed_rows.add(row)
    # A member whose mis-link was fixed no longer shares a number: its partners' NUMBER_SHARED goes too.
    fixed_members = {truth.at[r, "member_id"] for r in fixed_rows}
    shared = truth.loc[(truth["rule_id"] == "NUMBER_SHARED") & ~truth.index.isin(list(fixed_rows))]
    fixed_rows |= {r for r in shared.index if truth.at[r, "member_id"] in fixed_members}

    # Notation: the insurer copies the registry's name (kanji and kana).
    notation = truth.loc[truth["rule_id"].isin(FIXABLE_NOTATION) & (truth["true_resident_id"] != "")]
    for row in notation.index[rng.random(len(notation)) < FIX_SHARE]:
        pos = member_pos.get((truth.at[row, "insurer_number"], truth.at[row, "member_id"]))
        rpos = resident_pos.get(truth.at[row, "true_resident_id"])
        if pos is None or rpos is None:
            continue
        for column in ("name_kanji", "name_kana", "name_alpha"):
            if column in members.columns and column in residents.columns:
                members.at[pos, column] = residents.at[rpos, column]
        fixed_rows.add(row)

    # OQS copies corrected to the insurer's value.
    if (prev / "oqs.csv").exists():
        oqs, oqs_enc = _read(prev / "oqs.csv")
        oqs_pos = {(i, m): p for p, (i, m) in enumerate(zip(oqs["insurer_number"], oqs["member_id"]))}
        for rule_id, column in FIXABLE_OQS.items():
            rows = truth.loc[truth["rule_id"] == rule_id]
            for row in rows.index[rng.random(len(rows)) < FIX_SHARE]:
                key = (truth.at[row, "insurer_number"], truth.at[row, "member_id"])
                if key in oqs_pos and key in member_pos and column in oqs.columns:
                    value = members.at[member_pos[key], column]
                    oqs.at[oqs_pos[key], column] = _oqs_value(value, column)
                    fixed_rows.add(row)
        _write(oqs, out / "oqs.csv", oqs_enc)

    # New problems on members no truth row touches.
    touched = set(zip(truth["insurer_number"], truth["member_id"]))
    clean = [p for p, key in enumerate(zip(members["insurer_number"], members["member_id"]))
             if key not in touched and members.at[p, "individual_number"] and not members.at[p, "loss_date"]]
    rng.shuffle(clean)
    new_rows: list[dict] = []
    linked = set(members["individual_number"])
    spare = [p for p in range(len(residents)) if residents.at[p, "individual_number"]
             and residents.at[p, "individual_number"] not in linked and residents.at[p, "status"] == "active"]
    rng.shuffle(spare)
    n_mislink = max(1, round(len(members) * NEW_PER_1000["mislink"] / 1000))
    n_notation = max(1, round(len(members) * NEW_PER_1000["notation"] / 1000))
    by_number = {n: p for p, n in enumerate(residents["individual_number"]) if n}
    for pos in clean[:n_mislink]:
        if not spare:
            break
        true_resident = by_number.get(members.at[pos, "individual_number"])
        members.at[pos, "individual_number"] = residents.at[spare.pop(), "individual_number"]
        new_rows.append({"insurer_number": members.at[pos, "insurer_number"], "member_id": members.at[pos, "member_id"],
                         "rule_id": "MISLINK_SUSPECTED",
                         "true_resident_id": residents.at[true_resident, "resident_id"] if true_resident is not None else "",
                         "pattern": "number_typo_new_month"})
    for pos in clean[n_mislink:n_mislink + n_notation]:
        kana = members.at[pos, "name_kana"]
        if not kana:
            continue
        members.at[pos, "name_kana"] = jaconv.z2h(kana, kana=True, ascii=False, digit=False)
        true_resident = by_number.get(members.at[pos, "individual_number"])
        new_rows.append({"insurer_number": members.at[pos, "insurer_number"], "member_id": members.at[pos, "member_id"],
                         "rule_id": "NOTATION_DIFFERENCE",
                         "true_resident_id": residents.at[true_resident, "resident_id"] if true_resident is not None else "",
                         "pattern": "kana_halfwidth_new_month"})

    _write(members, out / "members.csv", members_enc)
    persisting = truth.drop(index=list(fixed_rows))
    next_truth = pd.concat([persisting, pd.DataFrame(new_rows, columns=TRUTH_COLUMNS)], ignore_index=True)
    next_truth[TRUTH_COLUMNS].to_csv(out / "truth.csv", index=False, lineterminator="\n")
    period = next_as_of.strftime("%Y-%m")
    next_manifest = {**manifest, "as_of": next_as_of.date().isoformat(), "period": period,
                     "previous_period": manifest.get("period") or as_of.strftime("%Y-%m")}
    (out / "manifest.json").write_text(json.dumps(next_manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    counts = {p.stem: max(sum(1 for _ in open(p, "rb")) - 1, 0) for p in sorted(out.glob("*.csv"))}
    return FollowupResult(out_dir=out, as_of=next_as_of, period=period, fixed=len(fixed_rows),
                          persisting=len(persisting), new=len(new_rows), counts=counts)


def _oqs_value(value: str, column: str) -> str:
    """The insurer's value as the OQS file writes it (burden ratio as percent; categories as they are)."""
    if column == "burden_ratio":
        digits = jaconv.z2h(value, digit=True).replace("割", "")
        return f"{int(digits) * 10}" if digits.isdigit() and int(digits) < 10 else digits
    return value
