"""Structured JSON logs carry no personal data: a real scan's logs (verbose, through the drop-folder
watcher) are grepped for the feed's individual numbers, any 12-digit run, and the feed's names."""
from __future__ import annotations

import csv
import io
import json
import logging
import re

from reconcile.logs import JsonFormatter, apply_log_format
from tests.ops.conftest import drop, make_env, reconcile

_HEX = re.compile(r"[0-9a-f]{16,}")  # content fingerprints (sha256) may hold long digit runs


def _column_values(path, columns):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row[c].strip() for row in rows for c in columns if row.get(c) and row[c].strip()}


def test_the_logs_of_a_real_scan_hold_no_number_and_no_name(tmp_path, small_feed):
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    drop(small_feed, drop_dir, "2026-11")
    env = make_env(tmp_path, f"sqlite:///{tmp_path / 'store.sqlite3'}")
    done = reconcile(tmp_path, env, "-v", "schedule", "watch", str(drop_dir), "--once",
                     "--report-dir", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    events = {r.get("event") for r in records}
    assert {"watch.scan_started", "watch.scanned", "watch.done"} <= events
    assert any(r.get("logger") == "reconcile.feeds.loader" for r in records)  # the scan's own INFO lines

    text = done.stderr + done.stdout
    numbers = _column_values(small_feed / "members.csv", ["individual_number"]) | \
        _column_values(small_feed / "residents.csv", ["individual_number"])
    assert len(numbers) > 1000
    assert not [n for n in numbers if n in text]
    assert not re.findall(r"(?<!\d)\d{12}(?!\d)", _HEX.sub("<hex>", text))
    names = set()
    for file in ("members.csv", "residents.csv"):
        names |= _column_values(small_feed / file, ["name_kanji", "name_kana", "name_alpha"])
    surnames_and_full = names | {n.split()[0] for n in names if " " in n and len(n.split()[0]) >= 2}
    leaked = sorted(n for n in surnames_and_full if len(n) >= 2 and n in text)
    assert not leaked, leaked[:5]


def test_json_formatter_masks_numbers_in_messages_extras_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.ops.json")
    logger.propagate = False
    logger.addHandler(handler)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        apply_log_format("json")
        logger.error("member %s", "1234 5678 9018", extra={"note": "番号 123456789018"})
        try:
            raise ValueError("bad 123456789018")
        except ValueError:
            logger.exception("failed")
    finally:
        root.handlers = saved
        logger.removeHandler(handler)
    out = stream.getvalue()
    first, second = (json.loads(line) for line in out.splitlines())
    assert "9018" in first["message"] and "5678" not in first["message"]
    assert "123456789018" not in out and "12345678" not in out.replace("********", "")
    assert first["note"].endswith("9018") and second["exc"].startswith("Traceback")
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)
