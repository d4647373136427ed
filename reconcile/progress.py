"""進捗表示 / progress of a scan on a terminal: the overall step, real row counts and rates, in Japanese.

The loader reports ``progress("read:members", rows_done)`` and ``progress("validate:members", rows)``,
the service ``progress("rule RULE_ID", 0)`` before each rule. This turns them into one line per step
that rewrites itself on a terminal, for example::

    [1/3] 読み込み members.csv: 120,000 行（85,300 行/秒）
    [2/3] 検証 members.csv: 120,000 行
    [3/3] ルール 4/19 紐付け誤りの疑い（経過 12.4 秒）

Nothing is written when stderr is not a terminal, or under CI (pipes, cron, schedulers stay quiet).
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

STEPS = ("read", "validate", "rule")
STEP_WORDS = {"read": ("読み込み", "reading"), "validate": ("検証", "validating"), "rule": ("ルール", "rule")}


def interactive(stream: TextIO | None = None) -> bool:
    """A person is watching: the stream is a terminal and this is not CI."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


def _rule_count() -> int:
    try:
        from detectors import RULES
        return len(RULES)
    except Exception:  # noqa: BLE001 — progress never breaks a scan
        return 0


class ProgressLine:
    """Callable ``(stage, rows_done)`` that keeps one status line up to date (see the module doc)."""

    def __init__(self, stream: TextIO, *, lang: str = "ja", clock: Callable[[], float] = time.monotonic,
                 min_interval: float = 0.1, rule_total: int | None = None):
        self.stream, self.lang, self.clock, self.min_interval = stream, lang, clock, min_interval
        self.rule_total = _rule_count() if rule_total is None else rule_total
        self.started = clock()
        self.stage: str | None = None
        self.stage_started = self.started
        self.rows = 0
        self.rules_done = 0
        self.last_write = -1.0
        self.width = 0

    def _words(self, step: str) -> str:
        ja, en = STEP_WORDS.get(step, (step, step))
        return ja if self.lang == "ja" else en

    def _line(self) -> str:
        step, _, what = (self.stage or "").partition(":") if not (self.stage or "").startswith("rule ") \
            else ("rule", "", self.stage[5:])
        number = STEPS.index(step) + 1 if step in STEPS else 0
        head = f"[{number}/{len(STEPS)}] {self._words(step)}" if number else self._words(step)
        now = self.clock()
        if step == "rule":
            from reports.labels import rule

            total = f"/{self.rule_total}" if self.rule_total else ""
            elapsed = now - self.started
            tail = f"（経過 {elapsed:.1f} 秒）" if self.lang == "ja" else f" ({elapsed:.1f} s elapsed)"
            return f"{head} {self.rules_done}{total} {rule(what, self.lang)}{tail}"
        seconds = max(now - self.stage_started, 1e-9)
        rate = self.rows / seconds
        name = f"{what}.csv" if what else ""
        if self.lang == "ja":
            speed = f"（{rate:,.0f} 行/秒）" if step == "read" and seconds > 0.05 else ""
            return f"{head} {name}: {self.rows:,} 行{speed}"
        speed = f" ({rate:,.0f} rows/s)" if step == "read" and seconds > 0.05 else ""
        return f"{head} {name}: {self.rows:,} rows{speed}"

    def _write(self, final: bool = False) -> None:
        line = self._line()
        pad = " " * max(self.width - len(line), 0)
        self.stream.write("\r" + line + pad + ("\n" if final else ""))
        self.stream.flush()
        self.width = 0 if final else len(line)
        self.last_write = self.clock()

    def __call__(self, stage: str, rows_done: int) -> None:
        step = "rule" if stage.startswith("rule ") else stage.partition(":")[0]
        previous = self.stage
        if stage != previous:
            prev_step = None if previous is None else ("rule" if previous.startswith("rule ") else previous.partition(":")[0])
            if previous is not None and not (prev_step == "rule" and step == "rule"):
                self._write(final=True)            # keep the finished step's line
            self.stage, self.stage_started, self.rows = stage, self.clock(), 0
            if step == "rule":
                self.rules_done += 1
        self.rows = max(int(rows_done), self.rows)
        if stage != previous or self.clock() - self.last_write >= self.min_interval:
            self._write()

    def close(self) -> None:
        if self.stage is not None:
            self._write(final=True)


@contextmanager
def stage_progress(enabled: bool | None = None, *, lang: str | None = None,
                   stream: TextIO | None = None) -> Iterator[Callable[[str, int], None]]:
    """Yield ``progress(stage, rows_done)``: a :class:`ProgressLine` on a terminal, else a no-op."""
    stream = stream or sys.stderr
    enabled = interactive(stream) if enabled is None else enabled
    if not enabled:
        yield lambda stage, rows_done: None
        return
    line = ProgressLine(stream, lang=lang or os.environ.get("RECONCILE_LANG", "ja"))
    try:
        yield line
    finally:
        line.close()
