"""#13 end to end: what the drop-folder watcher did is in the weekly report, its CSV and the API.

`reconcile schedule watch DROP --once` takes a feed refused for a missing column and a good feed
(SQLite and PostgreSQL). The report the watcher refreshes after the good feed already lists both,
and `reconcile report weekly` (Japanese, and `--lang en`) shows for each: when, which folder, the
outcome in words, the stage timings, and for the refused one the reason in plain words. The week
is the stored scans' week, never today's. A steward of the insurer reads the same through the API.
Chromium (when present) renders the page and saves a screenshot in test-artifacts/screenshots/.
"""
from __future__ import annotations

import csv
import html as htmllib
import io
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from reports.guard import find_individual_numbers
from tests.ops.conftest import drop, drop_column, reconcile

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
REASON_JA = "members.csv の列 birth_date: 必須の列がありません"
REASON_EN = "members.csv, column birth_date: required column missing"


def _scan_rows(page: str) -> list[list[str]]:
    """The cells of the 今週のスキャンと結果 table, tags stripped."""
    section = page[page.index('<h3 id="scans">'):]
    body = section[section.index("<tbody>"):section.index("</tbody>")]
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_watched_feeds_and_their_outcomes_are_in_the_weekly_report(tmp_path, db_url, ops_env, small_feed):
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    bad = drop(small_feed, drop_dir, "2026-10-broken")
    drop_column(bad, "members.csv", "birth_date")
    drop(small_feed, drop_dir, "2026-11")
    watched = reconcile(tmp_path, ops_env, "schedule", "watch", str(drop_dir), "--once",
                        "--report-dir", str(tmp_path / "report"))
    assert watched.returncode == 2, watched.stderr          # one feed refused …
    done = json.loads((drop_dir / "done" / "2026-11" / "_OUTCOME.json").read_text(encoding="utf-8"))
    refused = json.loads((drop_dir / "rejected" / "2026-10-broken" / "_OUTCOME.json").read_text(encoding="utf-8"))
    assert (done["status"], refused["status"]) == ("done", "rejected")
    assert refused["reason"] == {"ja": REASON_JA, "en": REASON_EN} and refused["stages"]["report"] >= 0

    # The report the watcher refreshed after the good feed already lists the refused one before it.
    rows = _scan_rows((tmp_path / "report" / "index.html").read_text(encoding="utf-8"))
    assert [(r[1], r[3]) for r in rows] == [("2026-10-broken", "受付不可"), ("2026-11", "完了")]

    # The full report afterwards: every stage the watcher timed, for both feeds.
    made = reconcile(tmp_path, ops_env, "report", "weekly", "--out", str(tmp_path / "weekly"))
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "weekly" / "index.html").read_text(encoding="utf-8")
    rows = {r[1]: r for r in _scan_rows(page)}
    when, folder, source, outcome, period, findings, stages, details = rows["2026-11"]
    assert (source, outcome, findings) == ("自動", "完了", f"{done['summary']['findings']:,}")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", when)
    assert re.fullmatch(r"重複確認 [\d.]+秒、スキャン [\d.]+秒（取込・検証 [\d.]+秒、ルール [\d.]+秒、保存 [\d.]+秒）、"
                        r"レポート更新 [\d.]+秒、移動 [\d.]+秒", stages), stages
    assert details.startswith(f"新規 {done['summary']['new_findings']:,} 件")
    when, folder, source, outcome, period, findings, stages, details = rows["2026-10-broken"]
    assert (outcome, findings, details) == ("受付不可", "–", REASON_JA)
    assert stages.startswith("重複確認 ") and "レポート更新" in stages
    assert "今週、受け付けられなかったフィードが 1 件あります" in page
    assert "以下の検証結果と隔離行は、最後に受け付けたフィード「2026-11」のものです。" in page   # not the refused one

    table = {r["folder"]: r for r in _csv(tmp_path / "weekly" / "scans.csv")}
    assert table["2026-11"]["outcome"] == "done" and table["2026-10-broken"]["outcome"] == "rejected"
    assert int(table["2026-11"]["scan_id"]) == done["scan_id"] and int(table["2026-10-broken"]["scan_id"]) == \
        refused["scan_id"]
    for stage, column in (("scan", "seconds_scan"), ("scan:rules", "seconds_rules"), ("report", "seconds_report"),
                          ("move", "seconds_move")):
        assert float(table["2026-11"][column]) == done["stages"][stage], stage
    assert table["2026-10-broken"]["details"] == REASON_JA

    english = reconcile(tmp_path, ops_env, "--lang", "en", "report", "weekly", "--out", str(tmp_path / "weekly-en"))
    assert english.returncode == 0, english.stderr
    page_en = (tmp_path / "weekly-en" / "index.html").read_text(encoding="utf-8")
    rows_en = {r[1]: r for r in _scan_rows(page_en)}
    assert rows_en["2026-10-broken"][3] == "rejected" and rows_en["2026-10-broken"][-1] == REASON_EN
    assert rows_en["2026-11"][3] == "done" and rows_en["2026-11"][6].startswith("duplicate check ")
    assert "Feeds not accepted this week: 1 (" in page_en

    for output in [page, page_en, *(p.read_text(encoding="utf-8-sig") for p in (tmp_path / "weekly").glob("*.csv"))]:
        assert not find_individual_numbers(output)

    _api_and_screenshot(db_url, done, refused, page)


def _api_and_screenshot(db_url, done, refused, page):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from reconcile import auth, store
    from reconcile.config import get_settings

    from reports.timeutil import local_times
    from reports.weekly import iso_week

    engine = store.get_engine(db_url)
    with store.session_scope(engine) as s:
        latest = store.list_scans(s)[0]
        insurers = sorted(latest["summary"]["insurers"])            # the generated feed's one insurer
        _, token = auth.add_user(s, "ops-supervisor", "supervisor", insurers)
    week = iso_week(local_times(pd.Series([latest["started_at"]])).iloc[0])
    app = create_app(get_settings(database_url=db_url, secret_key="k" * 20), engine=engine)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(app) as client:
            scans = {s["scan_id"]: s for s in client.get("/api/v1/scans", headers=headers).json()["items"]}
            assert scans[done["scan_id"]]["summary"]["schedule"]["stages"] == done["stages"]
            assert scans[refused["scan_id"]]["status"] == "rejected"
            assert scans[refused["scan_id"]]["summary"]["schedule"]["reason"]["ja"] == REASON_JA
            one = client.get(f"/api/v1/scans/{refused['scan_id']}", headers=headers).json()
            assert one["stage_seconds"]["fingerprint"] == refused["stages"]["fingerprint"]
            report = client.get(f"/api/v1/reports/weekly/{week}", headers=headers)
            assert report.status_code == 200, report.text
            outcomes = {s["folder"]: s["outcome"] for s in report.json()["scans"]}
            assert outcomes == {"2026-10-broken": "rejected", "2026-11": "done"}
    finally:
        engine.dispose()
    _screenshot(page, f"weekly-scans-{db_url.split(':')[0].split('+')[0]}.png")


def _screenshot(page: str, name: str) -> None:
    """The page as a steward's manager sees it in Chromium: whole page, and the scans section."""
    path = os.environ.get("RECONCILE_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        if os.environ.get("RECONCILE_REQUIRE_CHROMIUM"):
            pytest.fail(f"RECONCILE_REQUIRE_CHROMIUM is set but there is no Chromium at {path}")
        return                        # the report itself was checked above; only the picture is missing
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            view = browser.new_page(viewport={"width": 1200, "height": 900})
            view.set_content(page, wait_until="load")
            assert view.locator("#scans").inner_text() == "今週のスキャンと結果"
            assert "受付不可" in view.locator("table.scans").inner_text()
            view.screenshot(path=str(SCREENSHOTS / name), full_page=True)
            view.locator("#scans").evaluate("e => e.scrollIntoView()")
            view.screenshot(path=str(SCREENSHOTS / name.replace(".png", "-section.png")))
        finally:
            browser.close()
