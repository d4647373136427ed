"""フィード書き出し / write a :class:`World` as a feed directory, with real-world value notation.

Real feeds are not canonical: dates come as 和暦 (``S45.03.12``, ``昭和45年3月12日``,
``H1/1/8``), ``YYYY/MM/DD`` or ``YYYYMMDD``; sex as 男/女; burden ratios as ``3割``; limit
categories as labels (ア, 現役並みⅢ) or online-qualification codes (A01, B03); individual
numbers with full-width digits, hyphens or spaces; files in CP932. This module varies the
notation of *values* (names are the identity injector's business) — every variant is one the
feed contract accepts, so it changes no finding.

Choices come from their own generator (seeded from the feed seed), so the notation does not
shift when an injector draws more or fewer random numbers. CP932 is chosen for a file only
when all of its text round-trips through CP932 (𠮷 and other characters outside it force
UTF-8 with BOM).

Columns whose name starts with ``_`` are generator-internal and never written.
"""
from __future__ import annotations

import codecs
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from detectors.codes import LIMIT_CATEGORIES
from reconcile.feeds.eras import ERAS
from reconcile.synth.world import TRUTH_COLUMNS, World

FEED_FILES = ("members", "residents", "oqs", "benefit_history", "card_status")

# OQS business codes (domain brief §5) for the written variant; the reader's alias table maps back.
OQS_LIMIT_CODES = {"A": "A01", "I": "A02", "U": "A03", "E": "A04", "O": "A05",
                   "G3": "B01", "G2": "B02", "G1": "B03", "IP": "B04", "L2": "B05", "L1": "B06"}
LIMIT_LABELS = {code: label for code, (label, _) in LIMIT_CATEGORIES.items()}

DATE_STYLES = ("iso", "slash", "compact", "wareki_letter", "wareki_kanji", "wareki_short")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


# ----------------------------------------------------------------------------- value formats
def _ymd(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    missing = np.isnat(days)
    safe = np.where(missing, np.datetime64("2000-01-01"), days)
    y = safe.astype("datetime64[Y]").astype(int) + 1970
    m = safe.astype("datetime64[M]").astype(int) % 12 + 1
    d = (safe - safe.astype("datetime64[M]")).astype(int) + 1
    return y, m, d, missing


def _s(values: np.ndarray, width: int = 0) -> pd.Series:
    text = pd.Series(values).astype(str)
    return text.str.zfill(width) if width else text


def format_dates(values: pd.Series, style: str) -> pd.Series:
    """Dates as strings in ``style`` (one of :data:`DATE_STYLES`); missing → empty string.

    Each distinct day is formatted once and spread back (1M rows hold a few 10k days).
    """
    days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    if len(days) < 1024:
        return _format_dates_each(values, style)
    uniq, inverse = np.unique(days, return_inverse=True)
    out = _format_dates_each(pd.Series(uniq), style).take(inverse.ravel())
    out.index = values.index
    return out


def _format_dates_each(values: pd.Series, style: str) -> pd.Series:
    y, m, d, missing = _ymd(values)
    if style == "iso":
        out = _s(y) + "-" + _s(m, 2) + "-" + _s(d, 2)
    elif style == "slash":
        out = _s(y) + "/" + _s(m, 2) + "/" + _s(d, 2)
    elif style == "compact":
        out = _s(y) + _s(m, 2) + _s(d, 2)
    else:
        days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
        era_index = np.zeros(len(values), dtype=int)
        for i, era in enumerate(ERAS):
            era_index[days >= np.datetime64(era.start)] = i
        names = np.array([e.name for e in ERAS], dtype=object)[era_index]
        letters = np.array([e.letter for e in ERAS], dtype=object)[era_index]
        era_year = y - np.array([e.first_year for e in ERAS])[era_index] + 1
        if style == "wareki_letter":      # S45.03.12 / R06.04.01
            out = pd.Series(letters) + _s(era_year, 2) + "." + _s(m, 2) + "." + _s(d, 2)
        elif style == "wareki_short":     # H1/1/8
            out = pd.Series(letters) + _s(era_year) + "/" + _s(m) + "/" + _s(d)
        elif style == "wareki_kanji":     # 昭和45年3月12日 / 令和元年5月1日
            year_text = _s(era_year).where(era_year != 1, "元")
            out = pd.Series(names) + year_text + "年" + _s(m) + "月" + _s(d) + "日"
        else:
            raise ValueError(f"unknown date style {style!r}")
    out = out.where(~missing, "")
    out.index = values.index
    return out


def mixed_dates(rng: np.random.Generator, values: pd.Series, style: str, *, mix: float = 0.0,
                other_styles: tuple[str, ...] = ("iso", "slash", "wareki_letter")) -> pd.Series:
    """Dates in ``style``, with a share ``mix`` of rows in another style (hand-keyed corrections)."""
    out = format_dates(values, style)
    if mix > 0 and len(values):
        pick = rng.random(len(values)) < mix
        if pick.any():
            alt = other_styles[int(rng.integers(0, len(other_styles)))]
            out[pick] = format_dates(values[pick], alt)
    return out


def format_numbers(rng: np.random.Generator, numbers: pd.Series, *, fullwidth: float, hyphen: float,
                   space: float) -> pd.Series:
    """12-digit numbers, a share in full-width digits, ``1234-5678-9012`` or ``1234 5678 9012``."""
    text = numbers.astype(object).where(numbers.notna(), "")
    has = (text != "").to_numpy()
    u = rng.random(len(text))
    as_hyphen = has & (u < hyphen)
    as_space = has & (u >= hyphen) & (u < hyphen + space)
    as_full = has & (u >= hyphen + space) & (u < hyphen + space + fullwidth)
    out = text.copy()
    for mask, sep in ((as_hyphen, "-"), (as_space, " ")):
        if mask.any():
            t = text[mask].astype(str)
            out[mask] = t.str[:4] + sep + t.str[4:8] + sep + t.str[8:]
    if as_full.any():
        out[as_full] = text[as_full].astype(str).str.translate(_FULLWIDTH)
    return out.astype(str)


def format_sex(rng, sex: pd.Series, style: str) -> pd.Series:
    table = {"code": {1: "1", 2: "2"}, "kanji": {1: "男", 2: "女"}, "letter": {1: "M", 2: "F"}}[style]
    return sex.map(table)


def format_ratio(ratio: pd.Series, style: str) -> pd.Series:
    text = ratio.astype("Int64").astype(str)
    if style == "percent":
        return text
    tenth = (ratio.astype("Int64") // 10).astype(str)
    return tenth + "割" if style == "wari" else tenth


def format_limit(category: pd.Series, style: str) -> pd.Series:
    if style == "code":
        return category.fillna("")
    table = LIMIT_LABELS if style == "label" else OQS_LIMIT_CODES
    return category.map(table).fillna("")


def format_bool(values: pd.Series, style: str) -> pd.Series:
    table = {"01": ("1", "0"), "truefalse": ("true", "false"), "umu": ("有", "無")}[style]
    b = values.astype("boolean")
    return b.map({True: table[0], False: table[1]}).astype(object).where(b.notna(), "")


def format_money(values: pd.Series) -> pd.Series:
    v = pd.Series(values, dtype="Float64")
    return v.round().astype("Int64").astype(str).where(v.notna(), "")


# ----------------------------------------------------------------------------- encodings
def choose_encoding(text: str, prefer_cp932: bool) -> str:
    """``cp932`` when preferred and the text round-trips through it, else ``utf-8-sig``."""
    return "cp932" if prefer_cp932 and cp932_bytes(text) is not None else "utf-8-sig"


def cp932_bytes(text: str) -> bytes | None:
    """``text`` in CP932 when it round-trips through it, else None."""
    try:
        encoded = text.encode("cp932")
    except UnicodeError:
        return None
    return encoded if encoded.decode("cp932") == text else None


def csv_bytes(frame: pd.DataFrame, *, eol: str = "\n") -> bytes:
    """:func:`csv_buffer` as ``bytes``."""
    return csv_buffer(frame, eol=eol).to_pybytes()


def csv_buffer(frame: pd.DataFrame, *, eol: str = "\n"):
    """The frame as UTF-8 CSV in a ``pyarrow.Buffer``: fields quoted where needed, missing
    values as empty unquoted fields. Arrow's C++ writer: a 1M-row file takes well under a
    second, against tens of seconds for ``DataFrame.to_csv``.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    arrays = {}
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            try:
                # Object columns of str/None convert directly (no pandas StringDtype detour).
                arrays[str(column)] = pa.array(series.to_numpy(), type=pa.string(), from_pandas=True)
                continue
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                series = series.astype("string")
        elif not isinstance(series.dtype, pd.StringDtype):
            series = series.astype("string")
        # Arrow-backed strings (formatted dates, codes) hand over their buffers.
        arrays[str(column)] = pa.array(series).cast(pa.string())
    table = pa.table(arrays) if arrays else pa.table({})
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=True, quoting_style="needed", eol=eol))
    return sink.getvalue()


def _write_csv(frame: pd.DataFrame, path: Path, *, prefer_cp932: bool, bom: bool = True) -> str:
    eol = "\r\n" if prefer_cp932 else "\n"
    data = memoryview(csv_buffer(frame, eol=eol))   # Arrow's buffer, written without a copy
    encoding = "utf-8-sig" if bom else "utf-8"
    if prefer_cp932:
        encoded = cp932_bytes(codecs.utf_8_decode(data)[0])
        if encoded is not None:
            path.write_bytes(encoded)
            return "cp932"
    with path.open("wb") as handle:
        handle.write(codecs.BOM_UTF8 if bom else b"")
        handle.write(data)
    return encoding


# ----------------------------------------------------------------------------- files
def _public(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not str(c).startswith("_")]]


def _members_text(rng, M: pd.DataFrame, styles: dict) -> pd.DataFrame:
    out = pd.DataFrame(index=M.index)
    for col in ("insurer_number", "insurer_type", "member_id", "household_id", "name_kanji", "name_kana",
                "name_alpha", "address", "loss_reason"):
        out[col] = M[col]
    out["birth_date"] = mixed_dates(rng, M["birth_date"], styles["birth"], mix=0.01)
    for col in ("acquisition_date", "loss_date", "card_issue_date"):
        out[col] = mixed_dates(rng, M[col], styles["dates"], mix=0.005)
    out["sex"] = format_sex(rng, M["sex"], styles["sex"])
    out["individual_number"] = format_numbers(rng, M["individual_number"], fullwidth=0.02, hyphen=0.02, space=0.01)
    last4 = M["individual_number_last4"].astype(object).where(M["individual_number_last4"].notna(), "")
    full = rng.random(len(last4)) < 0.2
    out["individual_number_last4"] = np.where(full, last4.astype(str).str.translate(_FULLWIDTH), last4)
    out["burden_ratio"] = format_ratio(M["burden_ratio"], styles["ratio"])
    out["limit_category"] = format_limit(M["limit_category"], styles["limit"])
    out["taxable_income"] = format_money(M["taxable_income"])
    out["kyu_tadashigaki_income"] = format_money(M["kyu_tadashigaki_income"])
    out["resident_tax_exempt"] = format_bool(M["resident_tax_exempt"], styles["bool"])
    return out


def _residents_text(rng, R: pd.DataFrame, styles: dict) -> pd.DataFrame:
    out = _public(R).copy()
    for col in ("birth_date", "status_date", "moved_in_date"):
        out[col] = mixed_dates(rng, R[col], styles["dates"], mix=0.003)
    out["sex"] = format_sex(rng, R["sex"], "code")
    out["individual_number"] = format_numbers(rng, R["individual_number"], fullwidth=0.03, hyphen=0.03, space=0.02)
    return out


def _oqs_text(rng, O: pd.DataFrame, styles: dict) -> pd.DataFrame:
    out = _public(O).copy()
    for col in ("birth_date", "acquisition_date", "loss_date"):
        out[col] = format_dates(O[col], styles["dates"])
    out["sex"] = format_sex(rng, O["sex"], "code")
    out["individual_number"] = format_numbers(rng, O["individual_number"], fullwidth=0.0, hyphen=0.0, space=0.0)
    out["burden_ratio"] = format_ratio(O["burden_ratio"], "percent")
    out["limit_category"] = format_limit(O["limit_category"], styles["limit"])
    return out


def _benefit_text(rng, B: pd.DataFrame, styles: dict) -> pd.DataFrame:
    out = _public(B).copy()
    for col in ("valid_from", "valid_to"):
        out[col] = format_dates(B[col], styles["dates"])
    ratio = (B["item"] == "burden_ratio").to_numpy()
    value = B["value"].astype(object).copy()
    if styles["ratio"] != "percent":
        value[ratio] = format_ratio(pd.Series(B["value"][ratio].astype(int).to_numpy(), index=B.index[ratio]),
                                    styles["ratio"]).to_numpy()
    if styles["limit"] != "code":
        lim = ~ratio
        value[lim] = format_limit(B["value"][lim], styles["limit"]).to_numpy()
    out["value"] = value
    return out


def _card_text(rng, C: pd.DataFrame, styles: dict) -> pd.DataFrame:
    out = _public(C).copy()
    for col in ("registration_date", "ecert_expiry_date", "card_returned_date", "kakuninsho_issued_date",
                "kakuninsho_valid_until", "oshirase_issued_date", "status_as_of"):
        if col in C.columns:   # kakuninsho_valid_until: optional (benefits injector adds it)
            out[col] = format_dates(C[col], styles["dates"])
    for col in ("registered", "self_info_restricted", "kakuninsho_requested"):
        out[col] = format_bool(C[col], styles["bool"])
    out["cancellation_code"] = C["cancellation_code"].astype(object).where(C["cancellation_code"].notna(), "")
    return out


def choose_styles(rng: np.random.Generator) -> dict[str, dict]:
    """Per-file notation, drawn once per feed."""
    pick = lambda options, p=None: options[int(rng.choice(len(options), p=p))]  # noqa: E731
    return {
        "members": {
            "birth": pick(("wareki_letter", "wareki_kanji", "iso", "slash"), [0.35, 0.2, 0.3, 0.15]),
            "dates": pick(("iso", "slash", "compact", "wareki_letter"), [0.4, 0.25, 0.2, 0.15]),
            "sex": pick(("code", "kanji", "letter"), [0.6, 0.3, 0.1]),
            "ratio": pick(("percent", "wari", "tenth"), [0.6, 0.3, 0.1]),
            "limit": pick(("code", "label", "oqs"), [0.5, 0.3, 0.2]),
            "bool": pick(("01", "truefalse", "umu"), [0.7, 0.15, 0.15]),
            "cp932": bool(rng.random() < 0.4),
        },
        "residents": {"dates": pick(("iso", "compact", "wareki_kanji", "slash"), [0.35, 0.25, 0.25, 0.15]),
                      "cp932": bool(rng.random() < 0.6)},
        "oqs": {"dates": pick(("iso", "compact"), [0.7, 0.3]),
                "limit": pick(("code", "oqs"), [0.5, 0.5]), "cp932": False},
        "benefit_history": {"dates": pick(("iso", "slash"), [0.7, 0.3]),
                            "ratio": pick(("percent", "wari"), [0.8, 0.2]),
                            "limit": pick(("code", "label", "oqs"), [0.6, 0.2, 0.2]), "cp932": False},
        "card_status": {"dates": pick(("iso", "compact", "slash"), [0.5, 0.3, 0.2]),
                        "bool": pick(("01", "umu"), [0.8, 0.2]), "cp932": bool(rng.random() < 0.3)},
    }


def write_feed(world: World, out_dir: str | Path, *, seed: int = 0, formats: tuple[str, ...] = ("csv",),
               source: str = "reconcile synthetic generator") -> dict:
    """Write the feed files, ``manifest.json`` and ``truth.csv``; return what was written.

    ``formats``: ``"csv"`` (notation varied as real feeds are) and/or ``"parquet"`` (same
    text columns, same stems). The returned dict has ``counts`` (rows per file),
    ``encodings`` (CSV encoding per file) and ``styles``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 20_261_101])
    styles = choose_styles(rng)
    builders = {
        "members": lambda: _members_text(rng, world.members, styles["members"]),
        "residents": lambda: _residents_text(rng, world.residents, styles["residents"]),
        "oqs": lambda: _oqs_text(rng, world.oqs, styles["oqs"]),
        "benefit_history": lambda: _benefit_text(rng, world.benefit_history, styles["benefit_history"]),
        "card_status": lambda: _card_text(rng, world.card_status, styles["card_status"]),
    }
    counts, pending = {}, {}
    # The text frames are built in order (they share ``rng``); serialising and writing one
    # (Arrow's CSV writer releases the GIL) overlaps with building the next.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="feed-writer") as pool:
        for name in FEED_FILES:
            frame = builders[name]()
            counts[name] = len(frame)
            if "csv" in formats:
                pending[name] = pool.submit(_write_csv, frame, out / f"{name}.csv",
                                            prefer_cp932=styles[name]["cp932"], bom=bool(rng.random() < 0.7))
            if "parquet" in formats:
                frame.astype("string").to_parquet(out / f"{name}.parquet", index=False)
            del frame
        encodings = {name: future.result() for name, future in pending.items()}
    manifest = {"as_of": world.as_of.strftime("%Y-%m-%d"), "period": world.as_of.strftime("%Y-%m"),
                "source": source}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    truth = world.truth_frame()[TRUTH_COLUMNS]
    truth = truth.sort_values(["rule_id", "insurer_number", "member_id", "pattern"], kind="stable")
    truth.to_csv(out / "truth.csv", index=False, encoding="utf-8")
    counts["truth"] = len(truth)
    return {"counts": counts, "encodings": encodings, "styles": styles}
