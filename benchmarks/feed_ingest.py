"""取込ベンチマーク / time load_feed on a synthetic full-size feed (not part of the test run).

    python benchmarks/feed_ingest.py [--members 1000000] [--dir /tmp/bench_feed] [--profile out.prof]
    python benchmarks/feed_ingest.py --dir benchmarks/out/prefecture-100000-x4   # an existing feed

Writes members (N), residents (1.3N), oqs (N), benefit_history (~0.5N) and card_status (N)
as CSV (a small share of dates in 和暦, full-width digits and hyphenated numbers, so the slow
paths run too), then prints the seconds per file and stage as load_feed reports them.
The feed is generated only when the directory does not already hold it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reconcile.privacy import check_digits, check_digits_ok, digit_matrix

SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "中村", "小林", "加藤", "髙橋", "斎藤"]
GIVEN = ["太郎", "花子", "一郎", "洋子", "健", "美咲", "翔太", "陽菜"]
KANA_S = ["ヤマダ", "サトウ", "スズキ", "タカハシ", "タナカ", "ワタナベ", "イトウ", "ナカムラ", "コバヤシ", "カトウ", "タカハシ", "サイトウ"]
KANA_G = ["タロウ", "ハナコ", "イチロウ", "ヨウコ", "ケン", "ミサキ", "ショウタ", "ヒナ"]


def _numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 12-digit numbers with a valid check digit."""
    base = rng.choice(10**11, size=n, replace=False)
    eleven = np.char.zfill(base.astype(str), 11)
    check = check_digits(digit_matrix(eleven, 11))
    numbers = np.char.add(eleven, check.astype(str))
    assert check_digits_ok(numbers).all()
    return numbers


def _dates(rng: np.random.Generator, n: int, start: str, days: int) -> pd.Series:
    values = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    return pd.Series(values.strftime("%Y-%m-%d"))


def _wareki(dates: pd.Series) -> pd.Series:
    """昭和 form for a date of the Shōwa era (others unchanged)."""
    parsed = pd.to_datetime(dates)
    showa = (parsed >= "1927-01-01") & (parsed <= "1988-12-31")
    text = ("S" + (parsed.dt.year - 1925).astype(str).str.zfill(2) + "." + parsed.dt.month.astype(str).str.zfill(2)
            + "." + parsed.dt.day.astype(str).str.zfill(2))
    return dates.where(~showa, text)


def generate(directory: Path, members: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n = members
    numbers = _numbers(rng, int(n * 1.3))
    s, g = rng.integers(0, len(SURNAMES), n), rng.integers(0, len(GIVEN), n)
    birth = _dates(rng, n, "1935-01-01", 32000)
    birth_text = birth.copy()
    sample = rng.random(n) < 0.02
    birth_text[sample] = _wareki(birth[sample])
    number_text = pd.Series(numbers[:n])
    hyphen = rng.random(n) < 0.01
    number_text[hyphen] = number_text[hyphen].str.slice(0, 4) + "-" + number_text[hyphen].str.slice(4, 8) + "-" + number_text[hyphen].str.slice(8)
    member_ids = pd.Series(np.char.add("M", np.char.zfill(np.arange(n).astype(str), 8)))
    names_kanji = pd.Series(np.array(SURNAMES)[s]) + " " + pd.Series(np.array(GIVEN)[g])
    names_kana = pd.Series(np.array(KANA_S)[s]) + " " + pd.Series(np.array(KANA_G)[g])
    sex = pd.Series(rng.integers(1, 3, n).astype(str))
    acquisition = _dates(rng, n, "2000-01-01", 9000)
    lost = rng.random(n) < 0.05
    loss = pd.Series(np.where(lost, _dates(rng, n, "2025-01-01", 600), ""))
    frame = pd.DataFrame({
        "insurer_number": "131016", "insurer_type": "kokuho", "member_id": member_ids,
        "household_id": pd.Series(np.char.add("H", (np.arange(n) // 2).astype(str))),
        "name_kanji": names_kanji, "name_kana": names_kana, "name_alpha": "",
        "birth_date": birth_text, "sex": sex,
        "address": "東京都千代田区千代田" + pd.Series((np.arange(n) % 999).astype(str)) + "-1",
        "individual_number": number_text, "individual_number_last4": "",
        "acquisition_date": acquisition, "loss_date": loss, "loss_reason": np.where(lost, "1", ""),
        "card_issue_date": acquisition, "burden_ratio": rng.choice(["30", "20", "3割"], n, p=[0.7, 0.29, 0.01]),
        "limit_category": rng.choice(["U", "E", "IP", "ウ", "現役並みⅠ"], n),
        "taxable_income": pd.Series(rng.integers(0, 8_000_000, n).astype(str)),
        "kyu_tadashigaki_income": pd.Series(rng.integers(0, 8_000_000, n).astype(str)),
        "resident_tax_exempt": rng.choice(["0", "1"], n), "branch_note": "",
    })
    frame.to_csv(directory / "members.csv", index=False)
    frame[["insurer_number", "member_id", "individual_number", "name_kanji", "name_kana", "name_alpha",
           "birth_date", "sex", "acquisition_date", "loss_date", "burden_ratio", "limit_category"]
          ].to_csv(directory / "oqs.csv", index=False)

    r = int(n * 1.3)
    rs, rg = rng.integers(0, len(SURNAMES), r), rng.integers(0, len(GIVEN), r)
    residents = pd.DataFrame({
        "resident_id": pd.Series(np.char.add("R", np.char.zfill(np.arange(r).astype(str), 9))),
        "individual_number": numbers, "name_kanji": pd.Series(np.array(SURNAMES)[rs]) + " " + pd.Series(np.array(GIVEN)[rg]),
        "name_kana": pd.Series(np.array(KANA_S)[rs]) + " " + pd.Series(np.array(KANA_G)[rg]),
        "birth_date": _dates(rng, r, "1935-01-01", 32000), "sex": pd.Series(rng.integers(1, 3, r).astype(str)),
        "address": "東京都千代田区千代田1-1", "municipality_code": "131016",
        "household_id": pd.Series(np.char.add("H", (np.arange(r) // 2).astype(str))),
        "status": rng.choice(["active", "moved_out", "deceased"], r, p=[0.9, 0.07, 0.03]),
        "status_date": "", "moved_in_date": _dates(rng, r, "2000-01-01", 9000),
    })
    residents.to_csv(directory / "residents.csv", index=False)

    h = n // 2
    history = pd.DataFrame({
        "source": rng.choice(["insurer", "oqs"], h), "insurer_number": "131016", "member_id": member_ids[:h],
        "item": "burden_ratio", "value": rng.choice(["20", "30"], h),
        "valid_from": _dates(rng, h, "2020-08-01", 2000), "valid_to": "",
    })
    history.to_csv(directory / "benefit_history.csv", index=False)
    cards = pd.DataFrame({
        "insurer_number": "131016", "member_id": member_ids, "registered": rng.choice(["0", "1"], n),
        "registration_date": _dates(rng, n, "2021-10-01", 1500), "cancellation_code": "",
        "ecert_expiry_date": _dates(rng, n, "2026-01-01", 1800), "card_returned_date": "",
        "self_info_restricted": "0", "kakuninsho_requested": "0", "kakuninsho_issued_date": "",
        "oshirase_issued_date": "", "status_as_of": "2026-09-30",
    })
    cards.to_csv(directory / "card_status.csv", index=False)
    (directory / "manifest.json").write_text(json.dumps({"as_of": "2026-11-01", "period": "2026-11"}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_feed"),
                        help="feed folder; generated when it holds no members.csv (any feed folder works)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of load_feed here and print its top functions")
    args = parser.parse_args()
    if not (args.dir / "members.csv").is_file():
        started = time.perf_counter()
        generate(args.dir, args.members)
        print(f"generated in {time.perf_counter() - started:.1f}s")
    import resource

    from reconcile.feeds import load_feed

    started, cpu_started = time.perf_counter(), time.process_time()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU time: wall time lies on a shared machine
        feed = profiler.runcall(load_feed, args.dir, key=b"bench-key")
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        feed = load_feed(args.dir, key=b"bench-key")
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for kind, summary in feed.validation.items():
        if not isinstance(summary, dict) or "rows_read" not in summary:
            continue  # feed-level entries (warnings, messages)
        print(f"{kind:16s} rows={summary['rows_read']:>9,d} kept={summary['rows_valid']:>9,d} "
              f"seconds={summary['seconds']}")
    # CPU time of this process is what to compare on a shared machine; RSS is not load-dependent
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import gc
    gc.collect()
    with open("/proc/self/statm") as statm:  # resident now, with the Feed held (what the rules start from)
        resident = int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    frames = sum(f.memory_usage(deep=True).sum() for f in feed.frames.values() if f is not None) / 2**20
    print(f"total load_feed: {total:.1f}s wall, {cpu:.1f}s CPU (GX import included); RSS after ingest "
          f"{resident:,.0f} MB (frames {frames:,.0f} MB), peak RSS {peak:,.0f} MB; "
          f"quarantine entries: {len(feed.quarantine)}")


if __name__ == "__main__":
    main()
