"""The synthetic municipality while it is being built (before it is written as a feed).

Frames here hold *raw but tidy* values: full 12-digit individual numbers as strings (the
generator is the only place they exist, since it plays the insurer and J-LIS), dates as
``datetime64[ns]``, sex 1/2, burden ratio 10/20/30, limit category codes. The writer turns
them into feed files, varying the notation (和暦, full-width digits, CP932, labels …) the
way real feeds do.

Injectors take the world, change a few members, and record each change in ``truth``:
one dict per (member, rule) with ``insurer_number, member_id, rule_id, true_resident_id,
pattern``. A member not in ``truth`` must be clean for every rule.

Generator-internal columns start with ``_``; injectors may read them, the writer never writes
them (see :data:`INTERNAL_COLUMNS`):

- ``members._resident_id`` — the member's true resident (住民票コード), for ``true_resident_id``;
- ``members._trigger`` — why the qualification started: ``birth``, ``move_in`` or
  ``employee_exit`` (acquisition = move-in / birth date for the first two);
- ``members._rejoined`` — the second membership of a person who left for employee insurance
  and came back (same person and number, two member ids, no overlap);
- ``members._person`` — row of the person in the generator's person table;
- ``residents._nationality`` — ``""`` for Japanese nationals, else ``VN``, ``CN``, ``PH``,
  ``BR``, ``KR``, ``NP``;
- ``residents._twin_of`` / ``residents._stranger_of`` — resident id of the twin sibling / of
  the unrelated resident with the same name, birth date and sex (``None`` otherwise).

Frames use object dtype for text (no Arrow round trips at 1M rows); ``individual_number`` is
``None`` when the insurer delivered only ``individual_number_last4``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TRUTH_COLUMNS = ["insurer_number", "member_id", "rule_id", "true_resident_id", "pattern"]
INTERNAL_PREFIX = "_"
INTERNAL_COLUMNS = {
    "members": ("_resident_id", "_trigger", "_rejoined", "_person"),
    "residents": ("_nationality", "_twin_of", "_stranger_of"),
}


@dataclass
class World:
    as_of: pd.Timestamp
    rng: np.random.Generator
    profile: str                     # "default" or "hard"
    residents: pd.DataFrame          # RESIDENTS columns, with individual_number (12 digits)
    members: pd.DataFrame            # MEMBERS columns, with individual_number / individual_number_last4
    oqs: pd.DataFrame
    benefit_history: pd.DataFrame
    card_status: pd.DataFrame
    truth: list[dict] = field(default_factory=list)
    # Members an injector has touched: later injectors leave them alone so each truth row
    # has exactly one cause (keyed by (insurer_number, member_id)).
    touched: set[tuple[str, str]] = field(default_factory=set)

    def record(self, insurer_number: str, member_id: str, rule_id: str,
               pattern: str, true_resident_id: str | None = None) -> None:
        self.truth.append({"insurer_number": insurer_number, "member_id": member_id,
                           "rule_id": rule_id, "true_resident_id": true_resident_id or "",
                           "pattern": pattern})
        self.touched.add((insurer_number, member_id))

    def truth_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.truth, columns=TRUTH_COLUMNS)
