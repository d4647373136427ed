"""Progress on a terminal: the step, real row counts and rates, Japanese; silent in pipes and CI."""
from __future__ import annotations

import io

from reconcile.progress import ProgressLine, stage_progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_show_the_step_rows_rate_and_rule_in_japanese():
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(out, lang="ja", clock=clock, min_interval=0, rule_total=19)
    line("read:members", 0)
    clock.now = 2.0
    line("read:members", 20_000)
    line("validate:members", 20_000)
    clock.now = 3.0
    line("rule MISLINK_SUSPECTED", 0)
    line("rule NUMBER_SHARED", 0)
    line.close()
    finished = [chunk.strip() for chunk in out.getvalue().split("\n") if chunk.strip()]
    last = [f.split("\r")[-1].strip() for f in finished]
    assert last[0] == "[1/3] 読み込み members.csv: 20,000 行（10,000 行/秒）"
    assert last[1] == "[2/3] 検証 members.csv: 20,000 行"
    assert last[2] == "[3/3] ルール 2/19 同一個人番号を複数被保険者が共有（経過 3.0 秒）"
    assert "rows/s" not in out.getvalue() and "?" not in out.getvalue()


def test_english_and_quiet_when_not_a_terminal(monkeypatch):
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(out, lang="en", clock=clock, min_interval=0, rule_total=0)
    line("read:residents", 0)
    clock.now = 1.0
    line("read:residents", 500)
    line.close()
    assert out.getvalue().split("\r")[-1].strip() == "[1/3] reading residents.csv: 500 rows (500 rows/s)"
    quiet = io.StringIO()
    with stage_progress(stream=quiet) as progress:        # StringIO is no terminal
        progress("read:members", 10)
    assert quiet.getvalue() == ""
    monkeypatch.setenv("CI", "true")
    with stage_progress(stream=quiet) as progress:
        progress("read:members", 10)
    assert quiet.getvalue() == ""
