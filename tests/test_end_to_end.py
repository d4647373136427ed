"""The whole product through its console script, as a steward's IT department runs it.

Real processes (`reconcile …` via ``python -m``), a real SQLite file, a generated feed. Checks
the issue #2 promises: the scan fills the store, reruns are idempotent, a broken feed is
rejected or quarantined with line numbers, and no full individual number leaks anywhere.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest


def reconcile(workdir: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECONCILE_SECRET_KEY": "end-to-end-test-key-0001",
           "RECONCILE_DATABASE_URL": f"sqlite:///{workdir / 'store.sqlite3'}", "CI": "true",
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "reconcile.cli.main", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)


def feed_numbers(feed: Path) -> set[str]:
    """Every 12-digit individual number written anywhere in the feed, normalised."""
    numbers: set[str] = set()
    for path in feed.glob("*.csv"):
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig") if not _is_cp932(raw) else raw.decode("cp932")
        for line in unicodedata.normalize("NFKC", text).splitlines():
            for cell in line.split(","):
                digits = re.sub(r"[\s\-\"]", "", cell)
                if re.fullmatch(r"\d{12}", digits):
                    numbers.add(digits)
    return numbers


def _is_cp932(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


FEED_AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    # A fixed as-of date: the feed (and its reporting month) must not depend on the day the suite runs.
    result = reconcile(workdir, "generate", "feed", "--members", "3000", "--seed", "11", "--as-of", FEED_AS_OF)
    assert result.returncode == 0, result.stderr
    first = reconcile(workdir, "-v", "scan", "feed")
    assert first.returncode == 0, first.stderr
    return workdir, first


def test_scan_prints_a_summary_and_fills_the_store(scanned):
    workdir, first = scanned
    assert "走査 1 完了" in first.stdout
    assert "NUMBER_INVALID" in first.stdout
    exported = reconcile(workdir, "export", "findings", "--out", "findings.csv")
    assert exported.returncode == 0, exported.stderr
    with open(workdir / "findings.csv", encoding="utf-8-sig") as handle:   # UTF-8 with BOM by default
        rows = list(csv.DictReader(handle))
    assert list(rows[0].keys()) == [
        "finding_id", "scan_id", "insurer_number", "member_id", "rule_id", "category", "severity", "score",
        "summary", "evidence", "suggested_resident_id", "suggested_individual_number_last4", "queue", "status",
        "first_seen_scan", "last_seen_scan"]
    truth_rules = {r["rule_id"] for r in csv.DictReader(open(workdir / "feed" / "truth.csv", encoding="utf-8"))}
    assert {"NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NUMBER_SHARED", "QUAL_DATE_INVALID"} <= truth_rules
    assert {"NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NUMBER_SHARED", "QUAL_DATE_INVALID"} <= {r["rule_id"] for r in rows}


def test_rescanning_the_same_feed_is_idempotent(scanned):
    workdir, _ = scanned
    before = reconcile(workdir, "export", "findings", "--out", "before.csv")
    again = reconcile(workdir, "scan", "feed")
    assert again.returncode == 0, again.stderr
    after = reconcile(workdir, "export", "findings", "--out", "after.csv")
    assert before.returncode == after.returncode == 0
    ids_before = sorted(r["finding_id"] for r in csv.DictReader(open(workdir / "before.csv", encoding="utf-8-sig")))
    rows_after = list(csv.DictReader(open(workdir / "after.csv", encoding="utf-8-sig")))
    assert sorted(r["finding_id"] for r in rows_after) == ids_before
    assert all(r["first_seen_scan"] == "1" and r["last_seen_scan"] == "2" for r in rows_after)
    assert "新規 0" in again.stdout


def test_no_full_individual_number_in_store_logs_exports_or_report(scanned):
    workdir, first = scanned
    numbers = feed_numbers(workdir / "feed")
    assert len(numbers) > 1000
    outputs = {
        "cp932 export": reconcile(workdir, "export", "findings", "--encoding", "cp932", "--out", "f932.csv"),
        "quarantine": reconcile(workdir, "export", "quarantine", "--out", "quarantine.csv"),
        "weekly": reconcile(workdir, "report", "weekly", "--out", "weekly"),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
    texts = {"scan stdout+log": first.stdout + first.stderr}
    for path in [workdir / "store.sqlite3", *workdir.glob("*.csv"), *(workdir / "weekly").rglob("*")]:
        if path.is_file():
            raw = path.read_bytes()
            texts[str(path)] = raw.decode("utf-8", errors="ignore") + raw.decode("cp932", errors="ignore")
    for wal in workdir.glob("store.sqlite3-*"):
        texts[str(wal)] = wal.read_bytes().decode("utf-8", errors="ignore")
    for where, text in texts.items():
        runs = set(re.findall(r"(?<!\d)\d{12}(?!\d)", text))
        assert not (runs & numbers), f"full individual number found in {where}"


BROKEN_MEMBERS = (
    "insurer_number,member_id,name_kanji,name_kana,birth_date,sex,individual_number,acquisition_date,burden_ratio\n"
    "131016,B1,山田 太郎,ヤマダ タロウ,1980-05-10,1,123456789018,2020-04-01,30\n"
    "131016,B2,山田 花子,ヤマダ ハナコ,1980-13-45,2,,2020-04-01,30\n"
    "131016,B3,佐藤 一郎,サトウ イチロウ,S55.01.02,1,12345678901X,2020-04-01,3割\n"
    "131016,B4,鈴木 次郎,スズキ ジロウ,昭和60年2月3日,男,000000000019,2020-04-01,9\n"
)
RESIDENTS = (
    "resident_id,individual_number,name_kanji,birth_date,sex,status\n"
    "R1,123456789018,山田 太郎,1980-05-10,1,active\n"
)


def test_a_broken_feed_quarantines_bad_rows_with_line_numbers(tmp_path):
    feed = tmp_path / "broken"
    feed.mkdir()
    (feed / "members.csv").write_bytes(BROKEN_MEMBERS.encode("cp932"))
    (feed / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    result = reconcile(tmp_path, "scan", "broken", "--as-of", "2026-11-01")
    assert result.returncode == 0, result.stderr
    exported = reconcile(tmp_path, "export", "quarantine", "--out", "q.csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(open(tmp_path / "q.csv", encoding="utf-8-sig")))
    where = {(r["line"], r["column"]) for r in rows}
    assert ("3", "birth_date") in where
    assert ("4", "individual_number") in where
    assert ("5", "burden_ratio") in where
    assert "123456789012" not in (tmp_path / "q.csv").read_text(encoding="utf-8")
    assert all(r["file"].startswith("members") for r in rows)


def test_a_feed_missing_a_required_column_is_rejected_with_exit_2_and_nothing_changes(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "members.csv").write_text(BROKEN_MEMBERS, encoding="utf-8")
    (good / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    assert reconcile(tmp_path, "scan", "good", "--as-of", "2026-11-01").returncode == 0
    before = (tmp_path / "before.csv")
    assert reconcile(tmp_path, "export", "findings", "--out", str(before)).returncode == 0

    feed = tmp_path / "nocol"
    feed.mkdir()
    (feed / "members.csv").write_text(BROKEN_MEMBERS.replace("birth_date,", "birthday,"), encoding="utf-8")
    (feed / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    result = reconcile(tmp_path, "scan", "nocol")
    assert result.returncode == 2
    assert "members.csv" in result.stderr and "birth_date" in result.stderr

    after = (tmp_path / "after.csv")
    assert reconcile(tmp_path, "export", "findings", "--out", str(after)).returncode == 0
    assert after.read_text(encoding="utf-8") == before.read_text(encoding="utf-8")


def test_a_feed_without_members_csv_is_rejected(tmp_path):
    feed = tmp_path / "empty"
    feed.mkdir()
    (feed / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    result = reconcile(tmp_path, "scan", "empty")
    assert result.returncode == 2
    assert "members.csv" in result.stderr


def test_doctor_and_the_national_and_kakuninsho_exports(scanned):
    workdir, _ = scanned
    doctor = reconcile(workdir, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.count("OK  ") >= 4 and "NG  " not in doctor.stdout
    # The feed's reporting month (manifest period), not the day the scan ran: the feed is generated
    # as of FEED_AS_OF, so this holds on any day the suite runs.
    import json
    period = json.loads((workdir / "feed" / "manifest.json").read_text(encoding="utf-8"))["period"]
    assert period == FEED_AS_OF[:7]
    national = reconcile(workdir, "export", "national", "--period", period, "--out", "national.csv",
                         "--totals", "totals.csv")
    assert national.returncode == 0, national.stderr
    assert (workdir / "national.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(open(workdir / "national.csv", encoding="utf-8-sig")))
    assert rows and {r["報告対象月"] for r in rows} == {period}
    assert sum(int(r["検出件数"]) for r in rows) > 0
    totals = list(csv.DictReader(open(workdir / "totals.csv", encoding="utf-8-sig")))
    assert int(totals[-1]["検出件数"]) == sum(int(r["検出件数"]) for r in rows)
    kakuninsho = reconcile(workdir, "export", "kakuninsho", "--out", "kakuninsho.csv")
    assert kakuninsho.returncode == 0, kakuninsho.stderr
    assert (workdir / "kakuninsho.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    listed = list(csv.DictReader(open(workdir / "kakuninsho.csv", encoding="utf-8-sig")))
    truth = [r for r in csv.DictReader(open(workdir / "feed" / "truth.csv", encoding="utf-8"))
             if r["rule_id"] == "KAKUNINSHO_NOT_ISSUED"]
    assert {r["member_id"] for r in truth} <= {r["member_id"] for r in listed}
    assert all(len(r["number_last4"]) in (0, 4) for r in listed)
    bad_period = reconcile(workdir, "export", "national", "--period", "2026-13")
    assert bad_period.returncode == 2 and "YYYY-MM" in bad_period.stderr


def test_train_writes_a_model_the_scan_can_use(scanned, tmp_path):
    workdir, _ = scanned
    labels = tmp_path / "labels.csv"
    header = "label,name_kanji_l,name_kana_l,birth_date_l,sex_l,name_kanji_r,name_kana_r,birth_date_r,sex_r\n"
    same = "1,山田 太郎,ヤマダ タロウ,1980-05-10,1,山田 太郎,ヤマダ タロウ,1980-05-10,1\n"
    different = "0,山田 太郎,ヤマダ タロウ,1980-05-10,1,佐藤 花子,サトウ ハナコ,1975-01-02,2\n"
    labels.write_text(header + (same + different) * 20, encoding="utf-8")
    trained = reconcile(workdir, "train", str(labels), "--out", str(tmp_path / "model.json"))
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "model.json").exists()
    rescan = reconcile(workdir, "scan", "feed", env_extra={"RECONCILE_MODEL_PATH": str(tmp_path / "model.json")})
    assert rescan.returncode == 0, rescan.stderr


def test_the_readme_demo_command_on_a_fresh_directory(tmp_path):
    """README's first command, `reconcile demo`, with no configuration at all: it must make
    its own key, fill the embedded SQLite store, write the report, and rerun idempotently."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
    env.update({"HOME": str(tmp_path), "CI": "true"})

    def demo() -> subprocess.CompletedProcess:
        # --as-of: the demo's months must not depend on the day the suite runs
        return subprocess.run([sys.executable, "-m", "reconcile.cli.main", "demo", "--members", "600",
                               "--as-of", "2026-10-01"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)

    first = demo()
    assert first.returncode == 0, first.stderr
    assert "走査 1 完了" in first.stdout and "走査 2 完了" in first.stdout and "見る場所" in first.stdout
    store = tmp_path / "reconcile.sqlite3"
    report = tmp_path / "reconcile-demo" / "report" / "index.html"
    findings_csv = tmp_path / "reconcile-demo" / "findings.csv"
    assert store.exists() and report.exists() and findings_csv.exists()
    assert (tmp_path / "reconcile.toml").read_text(encoding="utf-8").startswith("secret_key")

    import sqlite3

    def counts() -> tuple[int, int, int]:
        with sqlite3.connect(store) as db:
            return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                         for t in ("scans", "findings", "work_items"))

    scans, findings, items = counts()
    assert scans == 2 and findings > 0 and items == findings
    assert "MISLINK_SUSPECTED" in first.stdout and "NOTATION_DIFFERENCE" in first.stdout

    numbers = feed_numbers(tmp_path / "reconcile-demo" / "feed")
    assert numbers, "the demo feed should hold individual numbers to look for"
    for path in (store, report, findings_csv):
        text = path.read_bytes().decode("utf-8", errors="ignore")
        assert not any(number in text for number in numbers), f"a full individual number in {path.name}"

    second = demo()
    assert second.returncode == 0, second.stderr
    assert "スキャン済み" in second.stdout
    assert counts() == (2, findings, items)   # same feeds again: no new scans, no duplicate work items


def _rewrite_member_ids(feed: Path, mapping: dict[str, str]) -> None:
    """Replace member_id in every feed file (keeping each file's encoding and BOM)."""
    for path in feed.glob("*.csv"):
        raw = path.read_bytes()
        encoding = "cp932" if _is_cp932(raw) else ("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8")
        newline = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        rows = list(csv.reader(raw.decode(encoding).splitlines()))
        if "member_id" not in rows[0]:
            continue
        col = rows[0].index("member_id")
        for row in rows[1:]:
            row[col] = mapping.get(row[col], row[col])
        with open(path, "w", encoding=encoding, newline="") as handle:
            csv.writer(handle, lineterminator=newline).writerows(rows)


def test_twelve_digit_member_ids_are_exported_and_reported(tmp_path):
    """記号・番号・枝番 joined is often 4 + 6 + 2 = 12 digits. Such member ids appear in summaries
    (「相手: 122218:100000000101」) and evidence; the 12-digit guard must let them through while
    still no individual number reaches an output."""
    assert reconcile(tmp_path, "generate", "feed", "--members", "3000", "--seed", "11",
                     "--as-of", FEED_AS_OF).returncode == 0
    feed = tmp_path / "feed"
    individual_numbers = feed_numbers(feed)
    with open(feed / "members.csv", "rb") as handle:
        raw = handle.read()
    text = raw.decode("cp932" if _is_cp932(raw) else "utf-8-sig")
    ids = sorted({row["member_id"] for row in csv.DictReader(text.splitlines())})
    mapping = {m: f"{1000 + i // 50:04d}{i:06d}01" for i, m in enumerate(ids)}
    _rewrite_member_ids(feed, mapping)

    assert reconcile(tmp_path, "scan", "feed").returncode == 0
    exported = reconcile(tmp_path, "export", "findings", "--out", "findings.csv")
    assert exported.returncode == 0, exported.stderr
    findings = (tmp_path / "findings.csv").read_text(encoding="utf-8")
    assert any(f":{new}" in findings for new in mapping.values()), "summaries name the other member"
    report = reconcile(tmp_path, "report", "weekly", "--out", "report")
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    for text in (findings, html):
        assert not any(number in text for number in individual_numbers - set(mapping.values()))


def test_report_before_any_scan_says_so_without_a_traceback(tmp_path):
    # No database yet: a read-only command says what to run and creates nothing (issue #8 defect 10).
    result = reconcile(tmp_path, "report", "weekly", "--out", "report")
    assert result.returncode == 1
    assert "reconcile scan" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report").exists() and not (tmp_path / "store.sqlite3").exists()
    # An empty (migrated) store: nothing scanned yet.
    assert reconcile(tmp_path, "migrate").returncode == 0
    result = reconcile(tmp_path, "report", "weekly", "--out", "report")
    assert result.returncode == 1
    assert "まだありません" in result.stderr and "reconcile scan" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "report").exists()


def test_national_export_of_an_empty_store_is_a_header_only_file(tmp_path):
    assert reconcile(tmp_path, "migrate").returncode == 0
    result = reconcile(tmp_path, "export", "national", "--period", "2026-11", "--out", "national.csv")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "national.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 and lines[0].startswith("報告対象月")
