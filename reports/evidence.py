"""Reading a finding's evidence for people (根拠の読み取り) — the suggested person, the differing field.

Evidence is the JSON object the detectors write (``contract/findings.md``); for ``MISLINK_SUSPECTED``
the compared fields of the linked resident are under ``linked`` and those of the probable right
resident under ``suggested.fields``, each ``{"member": …, "resident": …, "label": …, "level": …}``.
These helpers only read; they never guess a value that is not there.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

NAME_FIELDS = ("name_kanji", "name_kana", "name_alpha")


def parse(evidence: Any) -> dict:
    """The evidence as a dict (a JSON text is parsed; anything unreadable is ``{}``)."""
    if isinstance(evidence, Mapping):
        return dict(evidence)
    if isinstance(evidence, str) and evidence:
        try:
            value = json.loads(evidence)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


@dataclass(frozen=True)
class Person:
    """A resident as the evidence describes them (any part may be missing)."""
    resident_id: str | None
    name: str | None
    kana: str | None
    birth_date: str | None
    last4: str | None

    def label(self, lang: str = "ja") -> str:
        """「山田 花子（1980-05-10 生、宛名番号 123、下4桁 0018）」 — only the parts known."""
        parts = []
        if self.birth_date:
            parts.append(f"{self.birth_date} 生" if lang == "ja" else f"born {self.birth_date}")
        if self.resident_id:
            parts.append(f"宛名番号 {self.resident_id}" if lang == "ja" else f"resident id {self.resident_id}")
        if self.last4:
            parts.append(f"番号下4桁 {self.last4}" if lang == "ja" else f"number …{self.last4}")
        name = self.name or self.kana or ("氏名不明" if lang == "ja" else "name unknown")
        if not parts:
            return name
        return f"{name}（{'、'.join(parts)}）" if lang == "ja" else f"{name} ({', '.join(parts)})"


def _side(fields: Mapping[str, Any], key: str, side: str) -> str | None:
    value = fields.get(key)
    if isinstance(value, Mapping):
        value = value.get(side)
    return None if value in (None, "") else str(value)


def _present(value: Any) -> str | None:
    """The value as text, or None for None / NA / NaN / empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text or None


def suggested_person(evidence: Any, suggested_resident_id: Any = None, last4: Any = None) -> Person | None:
    """The resident the member probably is (MISLINK_SUSPECTED), or None when the evidence names none."""
    data = parse(evidence)
    suggested = data.get("suggested")
    fields = suggested.get("fields", {}) if isinstance(suggested, Mapping) else {}
    resident_id = _present(suggested_resident_id)
    if not fields and resident_id is None:
        return None
    last4 = _present(last4) or _side(fields, "last4", "resident")
    return Person(resident_id=resident_id, name=_side(fields, "name_kanji", "resident") or _side(fields, "name_alpha", "resident"),
                  kana=_side(fields, "name_kana", "resident"), birth_date=_side(fields, "birth_date", "resident"),
                  last4=None if last4 is None else str(last4)[-4:])


def linked_person(evidence: Any) -> Person | None:
    """The resident the member's linked number points to, as the evidence shows them."""
    data = parse(evidence)
    fields = data.get("linked") if isinstance(data.get("linked"), Mapping) else data.get("fields")
    if not isinstance(fields, Mapping):
        return None
    return Person(resident_id=data.get("linked_resident_id"), name=_side(fields, "name_kanji", "resident")
                  or _side(fields, "name_alpha", "resident"), kana=_side(fields, "name_kana", "resident"),
                  birth_date=_side(fields, "birth_date", "resident"), last4=data.get("linked_last4"))


def compared_fields(evidence: Any) -> dict[str, dict]:
    """``{field: {"member", "resident", "label", "level"}}`` of the linked resident (or notation pair)."""
    data = parse(evidence)
    fields = data.get("linked") if isinstance(data.get("linked"), Mapping) else data.get("fields")
    return {k: dict(v) for k, v in (fields or {}).items() if isinstance(v, Mapping)}
