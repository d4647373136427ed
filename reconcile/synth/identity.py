"""氏名表記ゆれ・紐付け誤りの注入 / notation variants and true mis-links (owned by the matcher engineer).

Two kinds of change, each recorded in ``world.truth``:

**Benign notation differences** (3–6 % of members; ``NOTATION_DIFFERENCE``, ``pattern`` says
which): the member *is* the linked resident, only the name is written differently —
variant kanji in either direction (高/髙, 崎/﨑, 辺/邊 …, never 斎↔斉), 外字 placeholders on the
insurer side (〓, ●, private-use code points), an ideographic variation selector, half-width
kana, hiragana, small kana written large, ヴ written バ, long-vowel marks dropped, spacing,
foreign names in another order / without a middle name / in katakana only, the 通称 (alias)
used by the insurer, a married name: the insurer still holds the former surname, shown
as 旧氏 on the registry or explained by the household, and the official reading the registry
records from 2025 (``kana_reading_official``: same kanji, another registered reading).

**True mis-links** (0.1–0.3 % of members; ``MISLINK_SUSPECTED`` with ``true_resident_id`` = the
resident the member really is): the member's own name, birth date and sex stay the true
person's; only the linked number is someone else's, and that someone is in residents.csv
(possibly in another municipality) — every pattern of domain brief §1:

- ``same_name_birth_date``: a stranger with the same name, birth date and sex (registered
  elsewhere) — the number is the stranger's;
- ``twin``: the twin sibling's number; ``family_member``: another household member's number;
- ``number_typo``: one mistyped digit or two swapped adjacent digits that still pass the check
  digit, and the result belongs to another resident (elsewhere);
- ``household_swap``: two members of one household hold each other's numbers (recorded on both);
- ``last4_family_member``: a last-four-only member (domain brief §2a) delivered with a family
  member's last four digits.

When a mis-linked number is also held by its own resident's member record (twin, family member),
the wrong holder's truth is ``NUMBER_SHARED`` instead (domain brief §2b), the rightful holder's
nothing. The OQS copy mirrors the insurer's changes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.privacy import check_digits, digit_matrix
from reconcile.synth.world import World

KEY = ["insurer_number", "member_id"]

NOTATION_SHARE = {"default": 0.045, "hard": 0.06}
MISLINK_SHARE = {"default": 0.002, "hard": 0.003}

MISLINK_PATTERNS = ("same_name_birth_date", "twin", "family_member", "number_typo", "household_swap")

# Base form → variant form, as they appear in real registers (domain brief §2).
VARIANT_OF = {
    "高": "髙", "崎": "﨑", "辺": "邊", "沢": "澤", "広": "廣", "吉": "𠮷", "柳": "栁", "富": "冨",
    "浜": "濱", "桜": "櫻", "国": "國", "徳": "德", "恵": "惠", "真": "眞", "竜": "龍", "島": "嶋",
    "斎": "齋", "斉": "齊", "渡": "渡", "沼": "沼",
}
VARIANT_OF = {k: v for k, v in VARIANT_OF.items() if k != v}
GAIJI_PLACEHOLDERS = ("〓", "●", "\ue001", "\ue0a5")
# Where a stranger holding a mis-linked number is registered (J-LIS look-up finds them there).
OTHER_PLACES = (("131016", "東京都千代田区"), ("141003", "神奈川県横浜市"), ("271004", "大阪府大阪市"),
                ("231002", "愛知県名古屋市"), ("011002", "北海道札幌市"))
VARIATION_SELECTOR = "\U000E0100"
_SMALL = dict(zip("ァィゥェォッャュョ", "アイウエオツヤユヨ"))


def _is_kanji(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or ch in VARIANT_OF.values() or ord(ch) > 0x20000


# --- notation variants: each returns the new (insurer or registry) values, or None if not applicable
def variant_kanji_member(m: dict, r: dict) -> dict | None:
    """The insurer writes a base form the registry holds as a variant, or the reverse."""
    name = m["name_kanji"]
    if not isinstance(name, str):
        return None
    for base, variant in VARIANT_OF.items():
        if base in name:
            return {"side": "member", "name_kanji": name.replace(base, variant, 1)}
        if variant in name:
            return {"side": "member", "name_kanji": name.replace(variant, base, 1)}
    return None


def variant_kanji_registry(m: dict, r: dict) -> dict | None:
    change = variant_kanji_member(m, r)
    return None if change is None else {**change, "side": "resident"}


def gaiji_placeholder(m: dict, r: dict, rng: np.random.Generator) -> dict | None:
    """The insurer's system could not hold one character: 〓, ● or a private-use code point."""
    name = m["name_kanji"]
    if not isinstance(name, str):
        return None
    positions = [i for i, ch in enumerate(name) if _is_kanji(ch)]
    if not positions:
        return None
    i = positions[int(rng.integers(len(positions)))]
    mark = GAIJI_PLACEHOLDERS[int(rng.integers(len(GAIJI_PLACEHOLDERS)))]
    return {"side": "member", "name_kanji": name[:i] + mark + name[i + 1:]}


def variation_selector(m: dict, r: dict) -> dict | None:
    """The registry holds an IVS after the first kanji (葛󠄀); the insurer the plain character."""
    name = r["name_kanji"]
    if not isinstance(name, str) or not name or not _is_kanji(name[0]):
        return None
    return {"side": "resident", "name_kanji": name[0] + VARIATION_SELECTOR + name[1:]}


def kana_halfwidth(m: dict, r: dict) -> dict | None:
    import jaconv
    kana = m["name_kana"]
    if not isinstance(kana, str):
        return None
    return {"side": "member", "name_kana": jaconv.z2h(kana, kana=True, ascii=False, digit=False)}


def kana_hiragana(m: dict, r: dict) -> dict | None:
    import jaconv
    kana = m["name_kana"]
    if not isinstance(kana, str) or not any("\u30a1" <= c <= "\u30f6" for c in kana) or "ヴ" in kana:
        return None
    return {"side": "member", "name_kana": jaconv.kata2hira(kana)}


def kana_small_large(m: dict, r: dict) -> dict | None:
    kana = m["name_kana"]
    if not isinstance(kana, str) or not any(c in _SMALL for c in kana):
        return None
    return {"side": "member", "name_kana": "".join(_SMALL.get(c, c) for c in kana)}


def kana_vu(m: dict, r: dict) -> dict | None:
    kana = m["name_kana"]
    if not isinstance(kana, str) or "ヴ" not in kana:
        return None
    new = kana.replace("ヴァ", "バ").replace("ヴィ", "ビ").replace("ヴェ", "ベ").replace("ヴォ", "ボ").replace("ヴ", "ブ")
    return {"side": "member", "name_kana": new}


def kana_long_vowel(m: dict, r: dict) -> dict | None:
    kana = m["name_kana"]
    if not isinstance(kana, str) or "ー" not in kana:
        return None
    return {"side": "member", "name_kana": kana.replace("ー", "")}


def spacing(m: dict, r: dict, rng: np.random.Generator) -> dict | None:
    name = m["name_kanji"]
    if not isinstance(name, str) or " " not in name:
        return None
    return {"side": "member", "name_kanji": name.replace(" ", "" if rng.random() < 0.5 else "\u3000")}


def foreign_order(m: dict, r: dict) -> dict | None:
    alpha = m["name_alpha"]
    if not isinstance(alpha, str) or len(alpha.split()) < 2:
        return None
    tokens = alpha.split()
    swapped = " ".join(tokens[1:] + tokens[:1])
    change = {"side": "member", "name_alpha": swapped}
    if m["name_kanji"] == alpha:
        change["name_kanji"] = swapped
    return change


def foreign_middle_name(m: dict, r: dict) -> dict | None:
    alpha = m["name_alpha"]
    if not isinstance(alpha, str) or len(alpha.split()) < 3:
        return None
    tokens = alpha.split()
    shorter = " ".join(tokens[:1] + tokens[2:])
    change = {"side": "member", "name_alpha": shorter}
    if m["name_kanji"] == alpha:
        change["name_kanji"] = shorter
    return change


def foreign_katakana(m: dict, r: dict) -> dict | None:
    """The insurer holds only the katakana name (no alphabet), in 名・姓 order with ・ sometimes."""
    alpha, kana = m["name_alpha"], m["name_kana"]
    if not isinstance(alpha, str) or not isinstance(kana, str) or m["name_kanji"] != alpha:
        return None
    return {"side": "member", "name_kanji": kana.replace(" ", "・"), "name_alpha": None}


def alias_used(m: dict, r: dict) -> dict | None:
    alias = r.get("alias_name")
    if not isinstance(alias, str) or not alias:
        return None
    return {"side": "member", "name_kanji": alias, "name_alpha": None}


def married_former_surname(m: dict, r: dict, rng: np.random.Generator) -> dict | None:
    """The insurer still holds the surname before marriage; the registry shows it as 旧氏."""
    former = r.get("former_surname")
    name, kana = m["name_kanji"], m["name_kana"]
    if not isinstance(former, str) or not isinstance(name, str) or " " not in name:
        return None
    from reconcile.synth.names import japanese_pools
    pools = japanese_pools().surnames
    match = np.flatnonzero(pools.kanji == former)
    if not len(match) or not isinstance(kana, str) or " " not in kana:
        return None
    return {"side": "member", "name_kanji": former + " " + name.split(" ", 1)[1],
            "name_kana": pools.kana[match[0]] + " " + kana.split(" ", 1)[1]}


# Official readings recorded on the registry from 2025-05-26 (振り仮名): the kanji stay, the kana
# the registry now holds is another reading of the same given name.
OFFICIAL_READINGS = {
    "晃": "コウ", "治": "ハル", "翼": "タスク", "浩": "コウ", "学": "ガク", "充": "ミツ", "稔": "ミノリ",
    "博": "ヒロ", "清": "セイ", "茂": "シゲ", "誠": "セイ", "隆": "リュウ", "勇": "ユウ", "進": "シン",
    "豊": "ユタ", "正": "マサシ", "勝": "カツ", "明": "メイ", "翔": "カケル", "湊": "ソウ", "陽翔": "ヒナト",
    "大翔": "ヤマト", "蒼": "ソウ", "樹": "タツキ", "悠": "ハルカ", "剛": "タケシ", "徹": "テツ", "智": "トモ",
    "聡": "サトル", "愛": "メグミ", "彩": "サヤ", "恵": "ケイ", "紬": "ツム", "陽菜": "ハルナ", "結菜": "ユナ",
    "美咲": "ミサ",
}


def kana_reading_official(m: dict, r: dict) -> dict | None:
    """The registry records the official reading (2025–26), another reading of the same kanji."""
    name, kana = r.get("name_kanji"), r.get("name_kana")
    if not isinstance(name, str) or not isinstance(kana, str) or " " not in name or " " not in kana:
        return None
    reading = OFFICIAL_READINGS.get(name.split(" ", 1)[1])
    if reading is None or kana.split(" ", 1)[1] == reading:
        return None
    return {"side": "resident", "name_kana": kana.split(" ", 1)[0] + " " + reading}


NOTATION_PATTERNS = {
    "variant_kanji_insurer": (variant_kanji_member, 5.0),
    "variant_kanji_registry": (variant_kanji_registry, 3.0),
    "gaiji_placeholder": (gaiji_placeholder, 3.0),
    "variation_selector": (variation_selector, 1.0),
    "kana_halfwidth": (kana_halfwidth, 3.0),
    "kana_hiragana": (kana_hiragana, 1.0),
    "kana_small_large": (kana_small_large, 3.0),
    "kana_vu": (kana_vu, 2.0),
    "kana_long_vowel": (kana_long_vowel, 2.0),
    "spacing": (spacing, 1.0),
    "foreign_order": (foreign_order, 3.0),
    "foreign_middle_name": (foreign_middle_name, 2.0),
    "foreign_katakana": (foreign_katakana, 4.0),
    "alias_used": (alias_used, 3.0),
    "married_former_surname": (married_former_surname, 4.0),
    "kana_reading_official": (kana_reading_official, 2.0),
}
_NEEDS_RNG = {"gaiji_placeholder", "spacing", "married_former_surname"}


# --- helpers ---------------------------------------------------------------------------------
def _check_digit(body: str) -> int:
    return int(check_digits(digit_matrix([body], 11))[0])


def typo_numbers(number: str) -> list[str]:
    """Single-digit typos and adjacent swaps of ``number`` that still pass the check digit."""
    digits = digit_matrix([number], 12)[0]
    position, digit = np.divmod(np.arange(120), 10)
    typos = np.repeat(digits[None, :], 120, axis=0)
    typos[np.arange(120), position] = digit
    typos = typos[digit != digits[position]]
    left = np.flatnonzero(digits[:-1] != digits[1:])
    swaps = np.repeat(digits[None, :], len(left), axis=0)
    rows = np.arange(len(left))
    swaps[rows, left], swaps[rows, left + 1] = digits[left + 1], digits[left]
    candidates = np.concatenate([typos, swaps])
    valid = candidates[check_digits(candidates[:, :11]) == candidates[:, 11]]
    return sorted({bytes(row + 48).decode("ascii") for row in valid})


class _Edits:
    """Member cell changes, mirrored on the OQS copy (the copy mirrors the insurer's changes),
    collected per column and written in one assignment each — not one ``.iat`` per cell."""

    def __init__(self, world: World):
        self.world = world
        self.cells: dict[str, dict[int, object]] = {}

    def set(self, idx: int, **values) -> None:
        for col, value in values.items():
            self.cells.setdefault(col, {})[int(idx)] = value

    def apply(self) -> None:
        members, oqs = self.world.members, self.world.oqs
        oqs_pos = None
        if oqs is not None and len(oqs) and any(col in oqs.columns for col in self.cells):
            pos = dict(zip(zip(oqs["insurer_number"], oqs["member_id"]), range(len(oqs))))
            insurer, member = members["insurer_number"].to_numpy(dtype=object), members["member_id"].to_numpy(dtype=object)
            oqs_pos = {idx: pos.get((insurer[idx], member[idx])) for cells in self.cells.values() for idx in cells}
        for col, cells in self.cells.items():
            values = members[col].to_numpy(dtype=object, copy=True)
            for idx, value in cells.items():
                values[idx] = value
            members[col] = pd.Series(values, index=members.index, dtype=members[col].dtype)
            if oqs_pos is not None and col in oqs.columns:
                mirrored = oqs[col].to_numpy(dtype=object, copy=True)
                for idx, value in cells.items():
                    if oqs_pos[idx] is not None:
                        mirrored[oqs_pos[idx]] = value
                oqs[col] = pd.Series(mirrored, index=oqs.index, dtype=oqs[col].dtype)
        self.cells = {}


# --- the injector ------------------------------------------------------------------------------
def inject(world: World) -> None:
    """Add notation variants and true mis-links to ``world`` (see the module docstring)."""
    rng = np.random.default_rng(world.rng.integers(2**32))
    members = world.members
    if members is None or len(members) == 0 or "_resident_id" not in members:
        return
    profile = world.profile if world.profile in NOTATION_SHARE else "default"
    # One member row per person is eligible (re-enrolled persons have two rows).
    single_row = (~members["_resident_id"].duplicated(keep=False) & members["_resident_id"].notna()).to_numpy()
    full_number = members["individual_number"].notna().to_numpy()
    touched = np.array([(i, m) in world.touched for i, m in zip(members["insurer_number"], members["member_id"])],
                       dtype=bool)
    eligible = np.flatnonzero(single_row & ~touched)
    order = rng.permutation(eligible)
    edits = _Edits(world)
    rpos_of = pd.Index(world.residents["resident_id"].to_numpy(dtype=object), dtype=object).get_indexer(
        members["_resident_id"].to_numpy(dtype=object))
    n_mislinks = max(len(MISLINK_PATTERNS), int(round(len(members) * MISLINK_SHARE[profile])))
    n_notation = int(round(len(members) * NOTATION_SHARE[profile]))
    used: set[int] = set()
    mislinked: list[int] = []
    _inject_mislinks(world, rng, edits, rpos_of, order, full_number, n_mislinks, used, mislinked)
    _inject_notation(world, rng, edits, rpos_of, order, n_notation, used)
    edits.apply()
    _record_shared(world, mislinked)
    _address_noise(world, rng)


_BANCHI = __import__("re").compile(r"(\d+)丁目(\d+)番(?:地)?(\d+)号")


def _address_noise(world: World, rng) -> None:
    """Insurer addresses as real masters hold them: 「1-2-3」 for 「1丁目2番3号」, the building
    left out, or an old address not yet updated (a move within the city). No rule reads the
    address alone, so this is not truth — it keeps the scorer from trusting addresses blindly."""
    members = world.members
    address = members["address"].to_numpy(dtype=object)
    n = len(address)
    draw = rng.random(n)
    out = address.copy()
    hyphen = draw < 0.10
    out[hyphen] = [_BANCHI.sub(r"\1-\2-\3", a) if isinstance(a, str) else a for a in address[hyphen]]
    no_building = (draw >= 0.10) & (draw < 0.14)
    out[no_building] = [a.split(" ")[0] if isinstance(a, str) else a for a in address[no_building]]
    stale = (draw >= 0.14) & (draw < 0.17)
    donors = rng.integers(0, n, int(stale.sum()))
    out[stale] = address[donors]
    members["address"] = out


def _inject_notation(world: World, rng, edits: _Edits, rpos_of: np.ndarray, order: np.ndarray, target: int,
                     used: set[int]) -> None:
    members = world.members
    residents = world.residents
    names = list(NOTATION_PATTERNS)
    weights = np.array([NOTATION_PATTERNS[n][1] for n in names], dtype=float)
    quota = np.floor(target * weights / weights.sum()).astype(int)
    quota[names.index("kana_halfwidth")] += target - quota.sum()
    same_name = ((members["name_kanji"].to_numpy(dtype=object) == residents["name_kanji"].to_numpy(dtype=object)[rpos_of])
                 & (members["name_kana"].to_numpy(dtype=object) == residents["name_kana"].to_numpy(dtype=object)[rpos_of]))
    pool = np.array([i for i in order if same_name[i]], dtype=np.int64)
    leftover = 0
    # Plain arrays (not DataFrame.iat per row), and per pattern only the members it can apply to.
    m_arr = {c: members[c].to_numpy(dtype=object) for c in ("insurer_number", "member_id", "name_kanji",
                                                             "name_kana", "name_alpha", "_resident_id")}
    r_arr = {c: residents[c].to_numpy(dtype=object)[rpos_of] for c in ("name_kanji", "name_kana", "name_alpha",
                                                                       "alias_name", "former_surname")}
    r_col = {c: residents.columns.get_loc(c) for c in ("name_kanji", "name_kana", "name_alpha")}
    # Arrow string kernels: one pass over 1M names each, not a Python call per name.
    kanji = pd.Series(m_arr["name_kanji"], dtype="string[pyarrow]")
    kana = pd.Series(m_arr["name_kana"], dtype="string[pyarrow]")
    variant_chars = "".join(VARIANT_OF) + "".join(VARIANT_OF.values())
    has_variant = kanji.str.contains(f"[{variant_chars}]", na=False).to_numpy(dtype=bool)
    prefilter = {
        "variant_kanji_insurer": has_variant,
        "variant_kanji_registry": has_variant,
        "kana_small_large": kana.str.contains("[ァィゥェォッャュョ]", na=False).to_numpy(dtype=bool),
        "kana_vu": kana.str.contains("ヴ", regex=False, na=False).to_numpy(dtype=bool),
        "kana_long_vowel": kana.str.contains("ー", regex=False, na=False).to_numpy(dtype=bool),
        "foreign_order": pd.notna(m_arr["name_alpha"]),
        "foreign_middle_name": pd.notna(m_arr["name_alpha"]),
        "foreign_katakana": pd.notna(m_arr["name_alpha"]),
        "alias_used": pd.notna(r_arr["alias_name"]),
        "married_former_surname": pd.notna(r_arr["former_surname"]),
        "kana_reading_official": pd.Series(r_arr["name_kanji"], dtype="string[pyarrow]").str.split(" ").str[-1]
        .isin(list(OFFICIAL_READINGS)).fillna(False).to_numpy(dtype=bool),
    }

    def clean(value):
        return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value

    for name, q in zip(names, quota):
        q += leftover
        func = NOTATION_PATTERNS[name][0]
        done = 0
        candidates = pool[prefilter[name][pool]] if name in prefilter and len(pool) else pool
        for idx in candidates:
            if done >= q:
                break
            if idx in used:
                continue
            m = {c: clean(m_arr[c][idx]) for c in m_arr}
            r = {c: clean(r_arr[c][idx]) for c in r_arr}
            rpos = int(rpos_of[idx])
            change = func(m, r, rng) if name in _NEEDS_RNG else func(m, r)
            if change is None:
                continue
            side = change.pop("side")
            if side == "resident":
                for col, value in change.items():
                    residents.iat[rpos, r_col[col]] = value
            else:
                edits.set(idx, **change)
            world.record(m["insurer_number"], m["member_id"], "NOTATION_DIFFERENCE", name, m["_resident_id"])
            used.add(int(idx))
            done += 1
        leftover = q - done


class _Groups:
    """Row positions per key, like ``DataFrame.groupby(col).indices`` (missing keys dropped,
    positions ascending) but built with one factorize + stable argsort instead of a dict of
    1M-row-scale arrays."""

    def __init__(self, values):
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        self._code = dict(zip(uniques.tolist(), range(len(uniques))))
        valid = codes >= 0
        order = np.flatnonzero(valid)
        self._order = order[np.argsort(codes[valid], kind="stable")]
        counts = np.bincount(codes[valid], minlength=len(uniques))
        self._ends = np.cumsum(counts)
        self._starts = self._ends - counts

    def get(self, key, default=()):
        code = self._code.get(key)
        if code is None:
            return default
        return self._order[self._starts[code]:self._ends[code]]


def _inject_mislinks(world: World, rng, edits: _Edits, rpos_of: np.ndarray, order: np.ndarray,
                     full_number: np.ndarray, target: int, used: set[int], mislinked: list[int]) -> None:
    members = world.members
    per_pattern = {p: target // len(MISLINK_PATTERNS) + (1 if i < target % len(MISLINK_PATTERNS) else 0)
                   for i, p in enumerate(MISLINK_PATTERNS)}
    residents = world.residents
    hh_of_res = _Groups(residents["household_id"].to_numpy(dtype=object))
    rows_of_resident = _Groups(members["_resident_id"].to_numpy(dtype=object))
    member_hh = _Groups(members["household_id"].to_numpy(dtype=object))
    taken_numbers = set(residents["individual_number"].dropna()) | set(members["individual_number"].dropna())
    candidates = order[full_number[order]].tolist()
    rid_of = members["_resident_id"].to_numpy(dtype=object)
    r_hh = residents["household_id"].to_numpy(dtype=object)
    m_hh = members["household_id"].to_numpy(dtype=object)
    r_birth = residents["birth_date"].to_numpy()
    r_number = residents["individual_number"].to_numpy(dtype=object)
    may_have_mate = _mate_possible(r_hh, r_birth, r_number)
    r_rid = residents["resident_id"].to_numpy(dtype=object)
    nationality = residents["_nationality"].to_numpy(dtype=object) if "_nationality" in residents else None
    new_rows: list[pd.Series] = []

    def take(idx: int, number: str, pattern: str) -> None:
        edits.set(idx, individual_number=number)
        world.record(members.at[idx, "insurer_number"], members.at[idx, "member_id"], "MISLINK_SUSPECTED",
                     pattern, rid_of[idx])
        used.add(idx)
        mislinked.append(idx)

    def new_resident(template: pd.Series, number: str) -> None:
        row = template.copy()
        row["resident_id"] = str(int(rng.integers(10**10, 10**11 - 1))).zfill(11)
        row["individual_number"] = number
        code, prefix = OTHER_PLACES[int(rng.integers(len(OTHER_PLACES)))]
        row["municipality_code"] = code
        row["household_id"] = str(int(rng.integers(9 * 10**9, 10**10 - 1)))
        row["address"] = prefix + f"{int(rng.integers(1, 9))}丁目{int(rng.integers(1, 30))}番{int(rng.integers(1, 20))}号"
        row["status"], row["status_date"] = "active", pd.NaT
        for col in ("_twin_of", "_stranger_of", "alias_name", "former_surname"):
            if col in row.index:
                row[col] = None
        new_rows.append(row)
        taken_numbers.add(number)

    for pattern in MISLINK_PATTERNS:
        need = per_pattern[pattern]
        for idx in candidates:
            if need <= 0:
                break
            if idx in used:
                continue
            rpos = int(rpos_of[idx])
            if pattern == "same_name_birth_date":
                if nationality is not None and nationality[rpos] not in ("", None):
                    continue
                # A stranger elsewhere with the same name, birth date and sex holds the number.
                while True:
                    body = str(int(rng.integers(10**10, 10**11 - 1))).zfill(11)
                    number = body + str(_check_digit(body))
                    if number not in taken_numbers:
                        break
                new_resident(residents.iloc[rpos], number)
                take(idx, number, pattern)
                need -= 1
            elif pattern in ("twin", "family_member"):
                if not may_have_mate[pattern][rpos]:
                    continue
                mates = [p for p in hh_of_res.get(r_hh[rpos], []) if p != rpos]
                if pattern == "twin":
                    mates = [p for p in mates if r_birth[p] == r_birth[rpos]]
                else:
                    mates = [p for p in mates if r_birth[p] != r_birth[rpos]]
                # The sibling / family member must not be mis-linked themselves.
                mates = [p for p in mates if isinstance(r_number[p], str)
                         and not any(j in used for j in rows_of_resident.get(r_rid[p], []))]
                if not mates:
                    continue
                take(idx, r_number[mates[int(rng.integers(len(mates)))]], pattern)
                need -= 1
            elif pattern == "number_typo":
                typos = [t for t in typo_numbers(members.at[idx, "individual_number"]) if t not in taken_numbers]
                if not typos:
                    continue
                number = typos[int(rng.integers(len(typos)))]
                # Whoever really holds the mistyped number: some person registered elsewhere.
                new_resident(residents.iloc[int(rng.integers(len(residents)))], number)
                take(idx, number, pattern)
                need -= 1
            elif pattern == "household_swap":
                mates = [j for j in member_hh.get(m_hh[idx], [])
                         if j != idx and j not in used and full_number[j]
                         and (members.at[j, "insurer_number"], members.at[j, "member_id"]) not in world.touched
                         and len(rows_of_resident.get(rid_of[j], [])) == 1]
                if not mates:
                    continue
                j = mates[int(rng.integers(len(mates)))]
                a_num, b_num = members.at[idx, "individual_number"], members.at[j, "individual_number"]
                take(idx, b_num, pattern)
                take(j, a_num, pattern)
                need -= 1
    # Last-four-only members (§2a): the last four digits delivered are a family member's.
    last4 = members["individual_number_last4"].to_numpy(dtype=object) if "individual_number_last4" in members else None
    need = max(1, target // 10) if last4 is not None else 0
    for idx in order:
        if need <= 0:
            break
        if idx in used or full_number[idx] or not isinstance(last4[idx], str):
            continue
        rpos = int(rpos_of[idx])
        mates = [p for p in hh_of_res.get(r_hh[rpos], []) if p != rpos and isinstance(r_number[p], str)
                 and r_number[p][-4:] != last4[idx]
                 and not any(j in used for j in rows_of_resident.get(r_rid[p], []))]
        if not mates:
            continue
        edits.set(idx, individual_number_last4=r_number[mates[int(rng.integers(len(mates)))]][-4:])
        world.record(members.at[idx, "insurer_number"], members.at[idx, "member_id"], "MISLINK_SUSPECTED",
                     "last4_family_member", rid_of[idx])
        used.add(int(idx))
        need -= 1
    if new_rows:
        added = pd.DataFrame(new_rows).reset_index(drop=True)
        world.residents = pd.concat([residents, added.astype(residents.dtypes.to_dict(), errors="ignore")],
                                    ignore_index=True)


def _mate_possible(household: np.ndarray, birth: np.ndarray, number: np.ndarray) -> dict[str, np.ndarray]:
    """Per resident, whether a numbered twin (same household and birth date) or a numbered
    family member (same household, other birth date) can exist — a necessary condition
    checked for 1.3M residents at once, so the per-candidate look-up runs only where it can
    succeed (twins are rare: without it the loop visits hundreds of thousands of members)."""
    household_code = pd.factorize(household)[0]
    frame = pd.DataFrame({"household": household_code, "birth": birth.view("i8"),
                          "numbered": pd.notna(number).astype(np.int64)})
    per_household = frame.groupby("household")["numbered"].transform("sum").to_numpy()
    per_birth = frame.groupby(["household", "birth"])["numbered"].transform("sum").to_numpy()
    grouped = household_code >= 0
    no_birth = pd.isna(birth)
    return {"twin": grouped & ((per_birth - frame["numbered"].to_numpy()) >= 1) | no_birth,
            "family_member": grouped & ((per_household - per_birth) >= 1) | no_birth}


def _record_shared(world: World, mislinked: list[int]) -> None:
    """NUMBER_SHARED truth for the holders of a number a mis-link made shared who are not the
    number's resident (domain brief §2b): the rightful holder gets nothing, and the wrong holder's
    MISLINK_SUSPECTED row becomes NUMBER_SHARED (one problem, one work item)."""
    members = world.members
    if not mislinked:
        return
    numbers = set(members.loc[mislinked, "individual_number"].dropna())
    holders = members[members["individual_number"].isin(numbers)]
    owner = world.residents.dropna(subset=["individual_number"]).drop_duplicates("individual_number")
    owner = dict(zip(owner["individual_number"], owner["resident_id"]))
    moved: set[tuple[str, str]] = set()
    for number, group in holders.groupby("individual_number"):
        if group["_resident_id"].nunique() < 2:
            continue
        for _, row in group.iterrows():
            if row["_resident_id"] == owner.get(number):
                continue
            moved.add((row["insurer_number"], row["member_id"]))
            world.record(row["insurer_number"], row["member_id"], "NUMBER_SHARED", "shared_by_mislink",
                         row["_resident_id"])
    world.truth = [t for t in world.truth if not (t["rule_id"] == "MISLINK_SUSPECTED"
                                                  and (t["insurer_number"], t["member_id"]) in moved)]
