"""フィードの列仕様 / the feed contract as data: files, columns, value kinds, requiredness, keys.

One entry per feed file of ``/work/shared/contract/feeds.md``. ``kind`` says how a column is
normalised (:mod:`reconcile.feeds.values`); ``required`` columns must be in the header (else
the whole feed is rejected) and their values must be present (else the row is quarantined).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from detectors import codes

# value kinds
TEXT = "text"            # names, addresses: stripped only
ID = "id"                # identifiers: NFKC
ENUM = "enum"            # lower-cased free code, value set checked by GX
CODE = "code"            # numeric-ish code, value set checked by GX
DATE = "date"
SEX = "sex"
RATIO = "burden_ratio"
LIMIT = "limit_category"
BOOL = "bool"
MONEY = "money"
NUMBER = "individual_number"
LAST4 = "last4"
BENEFIT_VALUE = "benefit_value"  # burden ratio or limit category, by the row's item


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    value_set: tuple[str, ...] | None = None   # checked by GX after normalisation


@dataclass(frozen=True)
class FeedFile:
    kind: str                 # canonical frame name (detectors.schema.FRAMES)
    stem: str                 # file name without extension
    required: bool
    columns: tuple[Column, ...]
    unique_key: tuple[str, ...]
    # rows need a name in name_kanji or, failing that, name_alpha (外国人住民)
    name_required: bool = False
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


INSURER_TYPES = tuple(codes.INSURER_TYPES)
LOSS_REASONS = tuple(codes.LOSS_REASONS)
CANCELLATION_CODES = tuple(codes.CANCELLATION_CODES)
STATUSES = tuple(codes.RESIDENT_STATUSES)
SOURCES = tuple(codes.BENEFIT_SOURCES)
ITEMS = tuple(codes.BENEFIT_ITEMS)

_NUMBER_COLUMNS = (Column("individual_number", NUMBER), Column("individual_number_last4", LAST4))

MEMBERS = FeedFile("members", "members", True, (
    Column("insurer_number", ID, True),
    Column("insurer_type", ENUM, value_set=INSURER_TYPES),
    Column("member_id", ID, True),
    Column("household_id", ID),
    Column("name_kanji", TEXT, True),
    Column("name_kana", TEXT, True),
    Column("name_alpha", TEXT),
    Column("birth_date", DATE, True),
    Column("sex", SEX, True),
    Column("address", TEXT),
    *_NUMBER_COLUMNS,
    Column("acquisition_date", DATE, True),
    Column("loss_date", DATE),
    Column("loss_reason", CODE, value_set=LOSS_REASONS),
    Column("card_issue_date", DATE),
    Column("burden_ratio", RATIO, True),
    Column("limit_category", LIMIT),
    Column("taxable_income", MONEY),
    Column("kyu_tadashigaki_income", MONEY),
    Column("resident_tax_exempt", BOOL),
), unique_key=("insurer_number", "member_id"), name_required=True, defaults={"insurer_type": "kokuho"})

RESIDENTS = FeedFile("residents", "residents", True, (
    Column("resident_id", ID, True),
    *_NUMBER_COLUMNS,
    Column("name_kanji", TEXT, True),
    Column("name_kana", TEXT),
    Column("name_alpha", TEXT),
    Column("alias_name", TEXT),
    Column("former_surname", TEXT),
    Column("birth_date", DATE, True),
    Column("sex", SEX, True),
    Column("address", TEXT),
    Column("municipality_code", ID),
    Column("household_id", ID),
    Column("status", ENUM, True, value_set=STATUSES),
    Column("status_date", DATE),
    Column("moved_in_date", DATE),
), unique_key=("resident_id",), name_required=True)

OQS = FeedFile("oqs", "oqs", False, (
    Column("insurer_number", ID, True),
    Column("member_id", ID, True),
    *_NUMBER_COLUMNS,
    Column("name_kanji", TEXT, True),
    Column("name_kana", TEXT, True),
    Column("name_alpha", TEXT),
    Column("birth_date", DATE, True),
    Column("sex", SEX, True),
    Column("acquisition_date", DATE, True),
    Column("loss_date", DATE),
    Column("burden_ratio", RATIO, True),
    Column("limit_category", LIMIT),
), unique_key=("insurer_number", "member_id"), name_required=True)

BENEFIT_HISTORY = FeedFile("benefit_history", "benefit_history", False, (
    Column("source", ENUM, True, value_set=SOURCES),
    Column("insurer_number", ID, True),
    Column("member_id", ID, True),
    Column("item", ENUM, True, value_set=ITEMS),
    Column("value", BENEFIT_VALUE, True),
    Column("valid_from", DATE, True),
    Column("valid_to", DATE),
), unique_key=())

CARD_STATUS = FeedFile("card_status", "card_status", False, (
    Column("insurer_number", ID, True),
    Column("member_id", ID, True),
    Column("registered", BOOL, True),
    Column("registration_date", DATE),
    Column("cancellation_code", CODE, value_set=CANCELLATION_CODES),
    Column("ecert_expiry_date", DATE),
    Column("card_returned_date", DATE),
    Column("self_info_restricted", BOOL),
    Column("kakuninsho_requested", BOOL),
    Column("kakuninsho_issued_date", DATE),
    Column("kakuninsho_valid_until", DATE),
    Column("oshirase_issued_date", DATE),
    Column("status_as_of", DATE, True),
), unique_key=("insurer_number", "member_id"))

FEED_FILES: tuple[FeedFile, ...] = (MEMBERS, RESIDENTS, OQS, BENEFIT_HISTORY, CARD_STATUS)
