"""合成自治体 / a realistic 市町村国保 municipality as a :class:`World` (the clean base).

Every member built here is clean for every rule of the findings contract: the insurer's record
equals the registry's, numbers carry valid check digits and are unique per person,
acquisition follows move-in / birth / leaving employee insurance, lost members lost on the
right day for the right reason, burden ratios and limit categories follow
:mod:`reconcile.synth.rules_truth` on ``as_of``, OQS mirrors the insurer, histories agree,
and every 職権交付 target already holds a 資格確認書. Injectors then break a few on purpose.

Shape of the municipality (国保 households plus residents on employee insurance, so the
registry holds about 1.3 residents per member):

- many 60–74 year-olds (single, couples, three generations), working-age singles and
  couples, families with children; 75+ are residents on 後期 (a member who turned 75 in the
  last two years is a lost member, reason 4);
- ~2.5% foreign households (VN, CN, PH, BR, KR, NP) with alphabet names on the registry, the
  katakana reading, kanji for some CN/KR, and 通称 for some;
- name collisions: common surnames, same-reading names, twins, and same name + birth date +
  sex strangers (denser under ``profile="hard"``);
- lost members: moved out (day after the move-out), died (day after death), joined employee
  insurance (some re-enrolled later under a new member id), turned 75;
- members living elsewhere (住所地特例 / students): their registry row has another
  ``municipality_code``.

Generator-internal columns start with ``_`` (see :mod:`reconcile.synth.world`); the writer
drops them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile import privacy
from reconcile.synth import rules_truth as rt
from reconcile.synth.names import foreign_pools, japanese_pools
from reconcile.synth.world import World

DAY = np.timedelta64(1, "D")

PREFECTURE = "千葉県"
CITY = "八千代市"
OTHER_MUNICIPALITIES = (  # (5-digit code, address prefix) of places members live when elsewhere
    ("13101", "東京都千代田区"), ("13112", "東京都世田谷区"), ("14100", "神奈川県横浜市"),
    ("12100", "千葉県千葉市"), ("12203", "千葉県市川市"), ("11100", "埼玉県さいたま市"),
    ("27100", "大阪府大阪市"), ("23100", "愛知県名古屋市"), ("12217", "千葉県柏市"), ("08220", "茨城県つくば市"),
)
FACILITY_NAMES = ("特別養護老人ホームさくら苑", "介護老人福祉施設やすらぎの里", "グループホームひだまり")
PAPER_CARDS_END = np.datetime64("2024-12-02")       # no new paper cards from this day (domain §8)
MY_NUMBER_START = np.datetime64("2016-01-01")


def local_government_code(code5: str) -> str:
    """全国地方公共団体コード with its check digit (JIS X 0401 style)."""
    s = sum(int(c) * w for c, w in zip(code5, (6, 5, 4, 3, 2)))
    return code5 + str((11 - s % 11) % 10)


def kokuho_insurer_number(prefecture: str, serial: str) -> str:
    """6-digit 国保 保険者番号: prefecture (2) + serial (3) + check digit (weights 2,1,2,1,2)."""
    body = prefecture + serial
    total = 0
    for digit, weight in zip(body, (2, 1, 2, 1, 2)):
        product = int(digit) * weight
        total += product // 10 + product % 10
    return body + str((10 - total % 10) % 10)


MUNICIPALITY_CODE = local_government_code("12221")
INSURER_NUMBER = kokuho_insurer_number("12", "221")


def _obj(values, index=None) -> pd.Series:
    """An object-dtype Series: pandas 3 would otherwise convert every string array to Arrow
    strings and back, which dominated the 1M-member build time."""
    if values is None or isinstance(values, str):
        values = np.full(len(index), values, dtype=object)
    return pd.Series(np.asarray(values, dtype=object), dtype=object, index=index)


def _frame(columns: dict) -> pd.DataFrame:
    """DataFrame keeping string arrays as object dtype (see :func:`_obj`)."""
    n = next(len(v) for v in columns.values() if hasattr(v, "__len__") and not isinstance(v, str))
    index = pd.RangeIndex(n)
    out = {}
    for name, values in columns.items():
        if values is None or isinstance(values, str) or (isinstance(values, np.ndarray) and values.dtype == object):
            out[name] = _obj(values, index)
        else:
            out[name] = values
    return pd.DataFrame(out, index=index)


def zfill_ints(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal strings of non-negative integers (object array), via Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string()), width, padding="0")
    return text.to_numpy(zero_copy_only=False).astype(object)


def check_digits(bodies: np.ndarray) -> np.ndarray:
    """Check digit of each 11-digit body (int64 array), domain brief §3."""
    return privacy.check_digits((bodies[:, None] // (10 ** np.arange(10, -1, -1))) % 10)


def number_strings(bodies: np.ndarray) -> np.ndarray:
    """12-digit individual numbers (object array of str) from 11-digit bodies."""
    full = bodies.astype(np.int64) * 10 + check_digits(bodies)
    return zfill_ints(full, 12)


def unique_bodies(rng: np.random.Generator, size: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``size`` distinct random 11-digit bodies (none in ``exclude``), in random order."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < size:
        draw = rng.integers(10**9, 10**11, size=int((size - len(out)) * 1.05) + 16, dtype=np.int64)
        merged = np.concatenate([out, draw])
        _, first = np.unique(merged, return_index=True)
        keep = np.sort(first)
        out = merged[keep]
        if exclude is not None and len(exclude):
            out = out[~np.isin(out, exclude)]
    return out[:size]


@dataclass(frozen=True)
class Profile:
    foreign_share: float
    twin_rate: float            # per family with two or more children
    stranger_pairs_per_10k: float
    former_surname_share: float


PROFILES = {
    "default": Profile(foreign_share=0.045, twin_rate=0.012, stranger_pairs_per_10k=2.0, former_surname_share=0.04),
    "hard": Profile(foreign_share=0.10, twin_rate=0.06, stranger_pairs_per_10k=20.0, former_surname_share=0.08),
}

# Household types of the 国保 side: (probability, description)
T_SINGLE_OLD, T_OLD_COUPLE, T_SINGLE, T_COUPLE, T_FAMILY, T_THREE_GEN, T_MIXED_OLD = range(7)
KOKUHO_TYPES = np.array([0.30, 0.26, 0.18, 0.05, 0.12, 0.05, 0.04])
EMPLOYEE_TYPES = np.array([0.02, 0.05, 0.28, 0.15, 0.42, 0.06, 0.02])
PERSONS_PER_HOUSEHOLD_KOKUHO = 1.6


def _birth_from_age(rng, as_of: np.datetime64, age: np.ndarray) -> np.ndarray:
    """A birth date for someone aged ``age`` (completed years) on ``as_of``."""
    days = np.floor((np.asarray(age, dtype=float) + rng.random(len(age))) * 365.2425).astype(np.int64)
    return as_of - days.astype("timedelta64[D]") - DAY


def _households(rng, as_of, n_households: int, type_p: np.ndarray, kokuho: bool) -> pd.DataFrame:
    """Persons of ``n_households`` households: household index, role, sex, birth date."""
    kinds = rng.choice(len(type_p), size=n_households, p=type_p / type_p.sum())
    parts = []

    def add(hh, role, age, sex):
        parts.append(_frame({"hh": hh, "role": np.full(len(hh), role, dtype=object),
                             "age": np.asarray(age, dtype=float), "sex": sex}))

    for kind in range(len(type_p)):
        hh = np.flatnonzero(kinds == kind)
        n = len(hh)
        if n == 0:
            continue
        if kind == T_SINGLE_OLD:
            age = rng.integers(62, 75, n) if kokuho else rng.integers(60, 90, n)
            add(hh, "head", age, np.where(rng.random(n) < 0.58, 2, 1))
        elif kind == T_OLD_COUPLE:
            age = rng.integers(64, 75, n) if kokuho else rng.integers(60, 88, n)
            add(hh, "head", age, np.ones(n, int))
            add(hh, "spouse", np.clip(age - rng.integers(-2, 6, n), 55, 95), np.full(n, 2))
        elif kind in (T_SINGLE, T_COUPLE):
            age = rng.integers(20, 62, n)
            male = rng.random(n) < (0.55 if kind == T_SINGLE else 1.0)
            add(hh, "head", age, np.where(male, 1, 2))
            if kind == T_COUPLE:
                add(hh, "spouse", np.clip(age - rng.integers(-3, 6, n), 20, 70), np.where(male, 2, 1))
        elif kind == T_FAMILY:
            age = rng.integers(27, 56, n)
            add(hh, "head", age, np.ones(n, int))
            mother = np.clip(age - rng.integers(-2, 6, n), 22, 60)
            add(hh, "spouse", mother, np.full(n, 2))
            kids = rng.choice([1, 2, 3], size=n, p=[0.38, 0.45, 0.17])
            for k in range(3):
                has = kids > k
                max_age = np.clip(np.minimum(mother, age)[has] - 21, 1, 22)
                add(hh[has], "child", np.floor(rng.random(has.sum()) * max_age), rng.integers(1, 3, has.sum()))
        elif kind == T_THREE_GEN:
            age = rng.integers(38, 60, n)
            add(hh, "head", age, np.ones(n, int))
            add(hh, "spouse", np.clip(age - rng.integers(-2, 6, n), 30, 65), np.full(n, 2))
            add(hh, "child", np.floor(rng.random(n) * np.clip(age - 22, 1, 25)), rng.integers(1, 3, n))
            add(hh, "grandparent", np.clip(age + rng.integers(24, 34, n), 62, 96), np.where(rng.random(n) < 0.65, 2, 1))
        elif kind == T_MIXED_OLD:
            age = rng.integers(75, 84, n)
            add(hh, "head", age, np.ones(n, int))
            add(hh, "spouse", rng.integers(63, 75, n), np.full(n, 2))
    persons = pd.concat(parts, ignore_index=True)
    # Household by household, head first (the order the parts were added in).
    persons = persons.iloc[np.argsort(persons["hh"].to_numpy(), kind="stable")].reset_index(drop=True)
    persons["kind"] = kinds[persons["hh"].to_numpy()]
    persons["birth"] = _birth_from_age(rng, as_of, persons["age"].to_numpy())
    return persons


def _avoid_boundary_ambiguity(birth: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """Shift birth dates whose 75th birthday falls within days of ``as_of`` (where 'lost on the
    birthday or the day after' is ambiguous) and births in the last 45 days (no card yet)."""
    b75 = rt.anniversary(birth, 75)
    near = (b75 >= as_of - 3 * DAY) & (b75 <= as_of + 2 * DAY)
    birth = np.where(near, birth - 7 * DAY, birth)
    recent = birth > as_of - 45 * DAY
    return np.where(recent, birth - 60 * DAY, birth)


def _random_between(rng, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Uniform day in [low, high] (high clipped to low)."""
    span = np.maximum((high - low).astype(np.int64), 0)
    return low + np.floor(rng.random(len(low)) * (span + 1)).astype(np.int64).astype("timedelta64[D]")


def _names(rng, persons: pd.DataFrame, profile: Profile) -> None:
    """Japanese and foreign names, shared surnames per household; adds name columns in place."""
    jp = japanese_pools()
    n = len(persons)
    hh = persons["hh"].to_numpy()
    n_hh = hh.max() + 1
    surname_of_hh = jp.surnames.sample(rng, n_hh)
    sur = surname_of_hh[hh]
    sex = persons["sex"].to_numpy()
    male_idx = jp.male.sample(rng, n)
    female_idx = jp.female.sample(rng, n)
    given_kanji = np.where(sex == 1, jp.male.kanji[male_idx], jp.female.kanji[female_idx])
    given_kana = np.where(sex == 1, jp.male.kana[male_idx], jp.female.kana[female_idx])
    persons["_surname_kanji"] = _obj(jp.surnames.kanji[sur], persons.index)
    persons["_surname_kana"] = _obj(jp.surnames.kana[sur], persons.index)
    persons["_given_kanji"] = _obj(given_kanji, persons.index)
    persons["_given_kana"] = _obj(given_kana, persons.index)
    persons["name_alpha"] = _obj(None, persons.index)
    persons["_nationality"] = _obj("", persons.index)
    persons["alias_name"] = _obj(None, persons.index)

    # Foreign households: one nationality and one surname per household.
    foreign_hh = rng.random(n_hh) < profile.foreign_share
    kinds_of_hh = np.zeros(n_hh, dtype=int)
    kinds_of_hh[hh] = persons["kind"].to_numpy()
    foreign_hh &= np.isin(kinds_of_hh, [T_SINGLE, T_COUPLE, T_FAMILY])
    codes, weights, pools = foreign_pools()
    nat_of_hh = rng.choice(len(codes), size=n_hh, p=weights)
    is_foreign = foreign_hh[hh]
    for k, pool in enumerate(pools):
        rows = np.flatnonzero(is_foreign & (nat_of_hh[hh] == k))
        if len(rows) == 0:
            continue
        fam_sur = pool.surnames.sample(rng, n_hh)[hh[rows]]
        m = pool.male.sample(rng, len(rows))
        f = pool.female.sample(rng, len(rows))
        male = sex[rows] == 1
        g_alpha = np.where(male, pool.male.alpha[m], pool.female.alpha[f])
        g_kana = np.where(male, pool.male.kana[m], pool.female.kana[f])
        g_kanji = np.where(male, pool.male.kanji[m], pool.female.kanji[f])
        s_kanji = pool.surnames.kanji[fam_sur]
        persons.loc[rows, "name_alpha"] = pool.surnames.alpha[fam_sur] + " " + g_alpha
        persons.loc[rows, "_surname_kana"] = pool.surnames.kana[fam_sur]
        persons.loc[rows, "_given_kana"] = g_kana
        # CN nationals mostly, KR nationals about half, register a kanji name next to the alphabet.
        kanji_share = {"CN": 0.85, "KR": 0.5}.get(pool.nationality, 0.0)
        has_kanji = (rng.random(len(rows)) < kanji_share) & (s_kanji != "") & (g_kanji != "")
        persons.loc[rows, "_surname_kanji"] = np.where(has_kanji, s_kanji, "")
        persons.loc[rows, "_given_kanji"] = np.where(has_kanji, g_kanji, "")
        persons.loc[rows, "_nationality"] = pool.nationality
        alias_share = 0.25 if pool.nationality in ("CN", "KR") else 0.05
        alias = rng.random(len(rows)) < alias_share
        if alias.any():
            a_sur = jp.surnames.kanji[jp.surnames.sample(rng, alias.sum())]
            a_given = np.where(male[alias], jp.male.kanji[jp.male.sample(rng, alias.sum())],
                               jp.female.kanji[jp.female.sample(rng, alias.sum())])
            persons.loc[rows[alias], "alias_name"] = a_sur + " " + a_given


def _twins(rng, persons: pd.DataFrame, rate: float) -> None:
    """Twins: the second child of some families shares the first child's birth date."""
    kids = persons[persons["role"] == "child"]
    first = kids.groupby("hh").head(1)
    second = kids[kids.duplicated("hh")].groupby("hh").head(1)
    pair = first.set_index("hh")[[]].join(second.reset_index().set_index("hh")["index"], how="inner")
    pick = pair[rng.random(len(pair)) < rate]
    if pick.empty:
        return
    first_rows = first.reset_index().set_index("hh").loc[pick.index, "index"].to_numpy()
    second_rows = pick["index"].to_numpy()
    persons.loc[second_rows, "birth"] = persons.loc[first_rows, "birth"].to_numpy()
    persons.loc[second_rows, "_twin_of"] = first_rows
    same = (persons.loc[second_rows, "_given_kana"].to_numpy() == persons.loc[first_rows, "_given_kana"].to_numpy())
    # Twins never share a given name: re-draw the clashing ones from the other sex-appropriate pool entry.
    if same.any():
        jp = japanese_pools()
        rows = second_rows[same]
        male = persons.loc[rows, "sex"].to_numpy() == 1
        mi = (jp.male.sample(rng, len(rows)))
        fi = (jp.female.sample(rng, len(rows)))
        clash_kana = persons.loc[first_rows[same], "_given_kana"].to_numpy()
        new_kana = np.where(male, jp.male.kana[mi], jp.female.kana[fi])
        mi = np.where(new_kana == clash_kana, (mi + 1) % len(jp.male), mi)
        fi = np.where(new_kana == clash_kana, (fi + 1) % len(jp.female), fi)
        foreign = persons.loc[rows, "_nationality"].to_numpy() != ""
        keep = ~foreign
        rows, male, mi, fi = rows[keep], male[keep], mi[keep], fi[keep]
        persons.loc[rows, "_given_kanji"] = np.where(male, jp.male.kanji[mi], jp.female.kanji[fi])
        persons.loc[rows, "_given_kana"] = np.where(male, jp.male.kana[mi], jp.female.kana[fi])


def _strangers(rng, persons: pd.DataFrame, per_10k: float) -> None:
    """Same name + birth date + sex, different person: copy A's identity onto B (both singles)."""
    singles = persons[(persons["kind"].isin([T_SINGLE_OLD, T_SINGLE])) & (persons["_nationality"] == "")]
    n_pairs = int(round(len(persons) * per_10k / 10_000))
    if n_pairs == 0 or len(singles) < 2 * n_pairs:
        return
    chosen = rng.choice(singles.index.to_numpy(), size=2 * n_pairs, replace=False)
    a, b = chosen[:n_pairs], chosen[n_pairs:]
    for col in ("_surname_kanji", "_surname_kana", "_given_kanji", "_given_kana", "birth", "sex"):
        persons.loc[b, col] = persons.loc[a, col].to_numpy()
    persons.loc[b, "_stranger_of"] = a


def _incomes(rng, persons: pd.DataFrame, band_now: np.ndarray, household_size: np.ndarray) -> None:
    """Per-person 所得 → 旧ただし書き所得, 課税所得, 住民税非課税 (resident_tax_exempt)."""
    n = len(persons)
    age = persons["age_now"].to_numpy()
    role = persons["role"].to_numpy()
    earner_p = np.select(
        [age < 18, age < 23, role == "head", role == "spouse"], [0.0, 0.25, 0.88, 0.55], default=0.6)
    earner = rng.random(n) < earner_p
    working = np.exp(rng.normal(np.log(1_700_000), 0.75, n))
    pension = np.exp(rng.normal(np.log(700_000), 0.9, n))
    business_old = rng.random(n) < 0.09            # 70–74 with business or rental income: 現役並み candidates
    old_income = np.where(business_old, np.exp(rng.normal(np.log(3_000_000), 0.7, n)), pension)
    total = np.where(age >= 65, np.where(rng.random(n) < 0.8, old_income, 0.0), np.where(earner, working, 0.0))
    total = np.where(age < 18, 0.0, total)
    total = np.round(total / 1000) * 1000
    exempt_limit = np.where(household_size >= 2, 1_010_000, 450_000)
    exempt = total <= exempt_limit
    kyu = np.maximum(total - 430_000, 0)
    deductions = 430_000 + 0.14 * total + np.floor(rng.random(n) * 8) * 100_000
    taxable = np.where(exempt, 0.0, np.maximum(np.round((total - deductions) / 1000) * 1000, 0))
    persons["taxable_income"] = taxable
    persons["kyu_tadashigaki_income"] = kyu.astype(float)
    persons["resident_tax_exempt"] = exempt


def _addresses(rng, n_hh: int) -> np.ndarray:
    from faker.providers.address.ja_JP import Provider as Address

    towns = np.array(Address.towns, dtype=object)[:60]
    town = towns[rng.integers(0, len(towns), n_hh)]
    chome = rng.integers(1, 6, n_hh).astype(str)
    ban = rng.integers(1, 31, n_hh).astype(str)
    gou = rng.integers(1, 21, n_hh).astype(str)
    base = pd.Series(PREFECTURE + CITY + town) + chome + "丁目" + ban + "番" + gou + "号"
    flat = rng.random(n_hh) < 0.3
    buildings = np.array(Address.building_names, dtype=object)
    room = (rng.integers(1, 6, n_hh) * 100 + rng.integers(1, 10, n_hh)).astype(str)
    building = pd.Series(buildings[rng.integers(0, len(buildings), n_hh)]) + town + " " + room + "号室"
    return np.where(flat, base + " " + building, base).astype(object)


def build_world(members: int, *, seed: int = 0, as_of: pd.Timestamp | str, profile: str = "default",
                rng: np.random.Generator | None = None) -> World:
    """Build the clean municipality with about ``members`` member rows (exactly, when ≥ 50)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    prof = PROFILES[profile]
    rng = rng if rng is not None else np.random.default_rng(seed)
    as_of_ts = pd.Timestamp(as_of).normalize()
    today = np.datetime64(as_of_ts.date(), "D")
    two_years_ago = today - 730 * DAY

    # --- persons of 国保 households (with surplus, trimmed to the member target below) ---
    n_hh = max(int(members / PERSONS_PER_HOUSEHOLD_KOKUHO * 1.12) + 8, 8)
    kok = _households(rng, today, n_hh, KOKUHO_TYPES, kokuho=True)
    kok["kokuho_hh"] = True
    # Households that moved away in the last two years (their members were lost, reason 1).
    n_moved = max(int(n_hh * 0.05), 1)
    moved = _households(rng, today, n_moved, KOKUHO_TYPES, kokuho=True)
    moved["hh"] += n_hh
    moved["kokuho_hh"] = True
    moved["moved_away"] = True
    persons = pd.concat([kok, moved], ignore_index=True)
    persons["moved_away"] = persons["moved_away"].fillna(False).astype(bool)

    # Employee-insurance households: residents only; sized after trimming.
    n_emp = max(int(members * 0.3 / 2.3), 2)
    emp = _households(rng, today, n_emp, EMPLOYEE_TYPES, kokuho=False)
    emp["hh"] += n_hh + n_moved
    emp["kokuho_hh"] = False
    emp["moved_away"] = rng.random(n_emp)[emp["hh"].to_numpy() - n_hh - n_moved] < 0.02
    persons = pd.concat([persons, emp], ignore_index=True)
    persons["birth"] = _avoid_boundary_ambiguity(persons["birth"].to_numpy(dtype="datetime64[D]"), today)

    _names(rng, persons, prof)
    persons["_twin_of"] = -1
    persons["_stranger_of"] = -1
    _twins(rng, persons, prof.twin_rate)
    _strangers(rng, persons, prof.stranger_pairs_per_10k)

    birth = persons["birth"].to_numpy(dtype="datetime64[D]")
    persons["age_now"] = rt.age_on(birth, today)
    hh = persons["hh"].to_numpy()
    n_all = len(persons)

    # --- household move-in dates, person move-in, status (moved out / deceased) ---
    total_hh = hh.max() + 1
    head_age = persons.groupby("hh")["age_now"].max().reindex(range(total_hh)).fillna(30).to_numpy()
    years_here = np.floor(rng.random(total_hh) ** 1.3 * np.clip(head_age - 18, 1, 55) * 365.2425).astype(np.int64)
    hh_moved_in = today - years_here.astype("timedelta64[D]") - rng.integers(30, 200, total_hh).astype("timedelta64[D]")
    moved_in = np.maximum(hh_moved_in[hh], birth)
    moved_away = persons["moved_away"].to_numpy(dtype=bool)
    hh_moveout = _random_between(rng, np.full(total_hh, two_years_ago), np.full(total_hh, today - 5 * DAY))
    hh_moveout = np.maximum(hh_moveout, hh_moved_in + 200 * DAY)
    hh_moveout = np.minimum(hh_moveout, today - 5 * DAY)
    status = np.where(moved_away, "moved_out", "active").astype(object)
    status_date = np.where(moved_away, hh_moveout[hh], np.datetime64("NaT"))

    # --- who is a member, and why their qualification started ---
    age = persons["age_now"].to_numpy()
    kokuho_hh = persons["kokuho_hh"].to_numpy(dtype=bool)
    anniv75 = rt.anniversary(birth, 75)
    loss75 = anniv75 + DAY
    # On 後期 long ago (never in this extract as a member) vs turned 75 within two years (lost member).
    late = anniv75 <= today
    recent_75 = late & (loss75 <= today) & (anniv75 >= two_years_ago)
    employee_in_kokuho = kokuho_hh & (persons["role"].isin(["spouse", "child"]).to_numpy()) & (age >= 20) \
        & (age < 65) & (rng.random(n_all) < 0.08)
    member = kokuho_hh & ~employee_in_kokuho & (~late | recent_75)
    # 国保 start: birth here, move-in, or the day after leaving employee insurance.
    born_here = birth >= hh_moved_in[hh]
    from_employee = ~born_here & (rng.random(n_all) < np.where(age >= 60, 0.7, 0.45))
    last_acq = np.where(moved_away, hh_moveout[hh] - 60 * DAY, today - 50 * DAY)
    if_employee = _random_between(rng, moved_in + DAY, last_acq)
    # Retirees: around the 60th–65th birthday when that fell while living here.
    retire = rt.anniversary(birth, 60) + rng.integers(0, 5 * 365, n_all).astype("timedelta64[D]")
    if_employee = np.where((age >= 62) & (retire > moved_in) & (retire < last_acq), retire, if_employee)
    from_employee &= (if_employee > moved_in) & (if_employee <= last_acq)
    acquisition = np.where(from_employee, if_employee, moved_in)
    trigger = np.where(born_here, "birth", np.where(from_employee, "employee_exit", "move_in")).astype(object)
    # Old records: the My Number era starts later, but acquisition dates can be decades old.
    member &= acquisition <= last_acq + 45 * DAY
    member &= ~(moved_away & (acquisition > hh_moveout[hh] - 30 * DAY))
    # Someone who arrived, or left employee insurance, after turning 75 went straight to 後期.
    member &= acquisition < anniv75
    member &= ~(moved_away & (anniv75 <= hh_moveout[hh]))

    loss = np.full(n_all, np.datetime64("NaT"), dtype="datetime64[D]")
    reason = np.full(n_all, None, dtype=object)
    # Moved out: lost the day after the move-out.
    mo = member & moved_away
    loss[mo] = hh_moveout[hh][mo] + DAY
    reason[mo] = "1"
    # Turned 75: lost the day after the 75th birthday (後期高齢者医療).
    t75 = member & recent_75 & ~moved_away
    loss[t75] = loss75[t75]
    reason[t75] = "4"
    # Died within two years (elderly members): registry shows deceased, lost the day after death.
    can_die = member & np.isnat(loss) & (age >= 60) & (acquisition <= today - 90 * DAY)
    died = can_die & (rng.random(n_all) < 0.025)
    death = _random_between(rng, np.maximum(acquisition + 60 * DAY, two_years_ago), np.full(n_all, today - 3 * DAY))
    loss[died] = death[died] + DAY
    reason[died] = "2"
    status[died] = "deceased"
    status_date[died] = death[died]
    # Non-member 75+ residents die too (registry only).
    old_dead = ~member & late & (rng.random(n_all) < 0.02) & ~moved_away
    status[old_dead] = "deceased"
    status_date[old_dead] = _random_between(rng, np.full(old_dead.sum(), two_years_ago), np.full(old_dead.sum(), today - 3 * DAY))
    # Joined employee insurance (lost reason 3; still a resident); some re-enrolled later.
    can_join = member & np.isnat(loss) & (age >= 20) & (age < 60) & (acquisition <= today - 120 * DAY)
    joined = can_join & (rng.random(n_all) < 0.04)
    join_day = _random_between(rng, np.maximum(acquisition + 60 * DAY, two_years_ago), np.full(n_all, today - 10 * DAY))
    loss[joined] = join_day[joined] + DAY
    reason[joined] = "3"
    rejoin = joined & (loss <= today - 120 * DAY) & (rng.random(n_all) < 0.25)

    # --- trim to the member target: whole households, then surplus members become non-members ---
    target = members
    member_rows_per_person = member.astype(int) + rejoin.astype(int)
    hh_members = np.bincount(hh, weights=member_rows_per_person, minlength=total_hh)
    kokuho_order = rng.permutation(np.flatnonzero(np.bincount(hh, weights=kokuho_hh, minlength=total_hh) > 0))
    cum = np.cumsum(hh_members[kokuho_order])
    keep_upto = int(np.searchsorted(cum, target, side="left"))
    keep_hh = np.zeros(total_hh, dtype=bool)
    keep_hh[kokuho_order[: keep_upto + 1]] = True
    keep_hh[np.bincount(hh, weights=~kokuho_hh, minlength=total_hh) > 0] = True
    surplus = int(cum[min(keep_upto, len(cum) - 1)] - target) if len(cum) else 0
    in_kept = keep_hh[hh]
    if surplus > 0:
        last_hh = kokuho_order[min(keep_upto, len(cum) - 1)]
        rows = np.flatnonzero((hh == last_hh) & member)[::-1]
        for r in rows:
            if surplus <= 0:
                break
            drop = 1 + int(rejoin[r])
            if drop > surplus and surplus == 1 and rejoin[r]:
                rejoin[r] = False
                surplus -= 1
                continue
            member[r] = False
            rejoin[r] = False
            surplus -= drop
    # Employee households: resize to about 1.3 residents per member overall.
    kept_kokuho_persons = int((in_kept & kokuho_hh).sum())
    need_emp = max(int(1.3 * target) - kept_kokuho_persons, 0)
    emp_rows = np.flatnonzero(~kokuho_hh)
    emp_keep = emp_rows[: need_emp]
    keep_person = (in_kept & kokuho_hh)
    keep_person[emp_keep] = True
    # keep whole employee households
    keep_hh_emp = np.zeros(total_hh, dtype=bool)
    keep_hh_emp[hh[emp_keep]] = True
    keep_person |= keep_hh_emp[hh] & ~kokuho_hh
    member &= keep_person
    rejoin &= member

    idx = np.flatnonzero(keep_person)
    P = persons.iloc[idx].reset_index(drop=True)
    P["_orig_row"] = idx
    sel = lambda a: np.asarray(a)[idx]  # noqa: E731
    birth, moved_in, status, status_date = sel(birth), sel(moved_in), sel(status), sel(status_date)
    member, rejoin, acquisition, trigger = sel(member), sel(rejoin), sel(acquisition), sel(trigger)
    loss, reason, moved_away, hh = sel(loss), sel(reason), sel(moved_away), sel(hh)
    n = len(P)

    # --- identifiers ---
    hh_codes, hh_index = np.unique(hh, return_inverse=True)
    household_numbers = zfill_ints(rng.permutation(len(hh_codes)) + 1_000_001, 10)
    P["household_id"] = _obj(household_numbers[hh_index], P.index)
    resident_codes = unique_bodies(rng, n)
    P["resident_id"] = _obj(zfill_ints(resident_codes, 11), P.index)
    bodies = unique_bodies(rng, n)
    P["individual_number"] = _obj(number_strings(bodies), P.index)
    P["_number_body"] = bodies
    addr_of_hh = _addresses(rng, len(hh_codes))
    P["address"] = _obj(addr_of_hh[hh_index], P.index)
    P["birth_date"] = birth
    P["moved_in_date"] = moved_in
    P["status"] = _obj(status, P.index)
    P["status_date"] = status_date
    P["municipality_code"] = _obj(MUNICIPALITY_CODE, P.index)

    # Married women with a 旧氏 on the 住民票 (Japanese spouses only).
    jp = japanese_pools()
    wives = np.flatnonzero((P["role"].to_numpy() == "spouse") & (P["sex"].to_numpy() == 2)
                           & (P["_nationality"].to_numpy() == "") & (rng.random(n) < prof.former_surname_share))
    former = jp.surnames.kanji[jp.surnames.sample(rng, len(wives))]
    P["former_surname"] = _obj(None, P.index)
    ok = former != P.loc[wives, "_surname_kanji"].to_numpy()
    P.loc[wives[ok], "former_surname"] = former[ok]

    # Names as registered: "surname given" in kanji (or alphabet for foreign residents) and kana.
    sk, gk = P["_surname_kanji"].to_numpy(dtype=object), P["_given_kanji"].to_numpy(dtype=object)
    has_kanji = (sk != "") & (gk != "")
    kanji_name = pd.Series(sk + " " + gk, dtype=object)
    alpha = P["name_alpha"].to_numpy(dtype=object)
    P["name_kanji"] = _obj(np.where(has_kanji, kanji_name.to_numpy(dtype=object), alpha), P.index)
    P["name_kana"] = _obj(P["_surname_kana"].to_numpy(dtype=object) + " " + P["_given_kana"].to_numpy(dtype=object),
                          P.index)

    # Members who live elsewhere (住所地特例 in a facility, students): registry row elsewhere.
    age_now = P["age_now"].to_numpy()
    active_member = member & np.isnat(loss)
    elsewhere = active_member & (((age_now >= 65) & (P["kind"].to_numpy() == T_SINGLE_OLD)) |
                                 ((age_now >= 18) & (age_now <= 22) & (P["role"].to_numpy() == "child"))) \
        & (acquisition <= today - 120 * DAY) & (rng.random(n) < 0.03)
    if elsewhere.any():
        k = int(elsewhere.sum())
        where = rng.integers(0, len(OTHER_MUNICIPALITIES), k)
        codes = np.array([local_government_code(c) for c, _ in OTHER_MUNICIPALITIES], dtype=object)
        prefixes = np.array([p for _, p in OTHER_MUNICIPALITIES], dtype=object)
        old = age_now[elsewhere] >= 65
        facility = np.array(FACILITY_NAMES, dtype=object)[rng.integers(0, len(FACILITY_NAMES), k)]
        street = (pd.Series(rng.integers(1, 9, k).astype(str)) + "丁目" + pd.Series(rng.integers(1, 30, k).astype(str))
                  + "番" + pd.Series(rng.integers(1, 20, k).astype(str)) + "号").to_numpy(dtype=object)
        P.loc[elsewhere, "address"] = np.where(old, prefixes[where] + street + " " + facility,
                                               prefixes[where] + street)
        P.loc[elsewhere, "municipality_code"] = codes[where]
        P.loc[elsewhere, "moved_in_date"] = _random_between(rng, acquisition[elsewhere] + 30 * DAY,
                                                            np.full(k, today - 30 * DAY))
        new_hh = zfill_ints(rng.permutation(k) + 8_000_001, 10)
        P["_member_household_id"] = P["household_id"].copy()
        P.loc[elsewhere, "household_id"] = new_hh
    else:
        P["_member_household_id"] = P["household_id"]
    P["_lives_elsewhere"] = elsewhere

    # --- incomes (active members; lost members carry neutral figures) ---
    band_now = rt.age_band(birth, today)
    hh_codes = pd.factorize(P["_member_household_id"].to_numpy(dtype=object))[0]
    if (hh_codes >= 0).all():
        # Members per household: one bincount instead of a groupby over 1M string keys.
        hh_size = np.bincount(hh_codes, weights=np.asarray(member, dtype=np.int64)).astype(np.int64)[hh_codes]
    else:
        hh_size = pd.Series(member).groupby(P["_member_household_id"].to_numpy()).transform("sum").to_numpy()
    _incomes(rng, P, band_now, hh_size)
    # Undeclared income (未申告): a few working-age single households → ア.
    undeclared = active_member & (P["kind"].to_numpy() == T_SINGLE) & (age_now < 60) & (rng.random(n) < 0.01)
    P.loc[undeclared, ["taxable_income", "kyu_tadashigaki_income"]] = np.nan
    P.loc[undeclared, "resident_tax_exempt"] = False

    residents = _residents_frame(P)
    world_members = _members_frame(rng, P, member, rejoin, acquisition, trigger, loss, reason, today)
    world = World(as_of=as_of_ts, rng=rng, profile=profile, residents=residents, members=world_members,
                  oqs=pd.DataFrame(), benefit_history=pd.DataFrame(), card_status=pd.DataFrame())
    _benefits(rng, world, today)
    world.oqs = oqs_copy(world.members)
    world.card_status = _card_status(rng, world, today)
    return world


RESIDENT_COLUMNS = ["resident_id", "individual_number", "individual_number_last4", "name_kanji", "name_kana",
                    "name_alpha", "alias_name", "former_surname", "birth_date", "sex", "address",
                    "municipality_code", "household_id", "status", "status_date", "moved_in_date"]
MEMBER_COLUMNS = ["insurer_number", "insurer_type", "member_id", "household_id", "name_kanji", "name_kana",
                  "name_alpha", "birth_date", "sex", "address", "individual_number", "individual_number_last4",
                  "acquisition_date", "loss_date", "loss_reason", "card_issue_date", "burden_ratio",
                  "limit_category", "taxable_income", "kyu_tadashigaki_income", "resident_tax_exempt"]
OQS_COLUMNS = ["insurer_number", "member_id", "individual_number", "individual_number_last4", "name_kanji",
               "name_kana", "name_alpha", "birth_date", "sex", "acquisition_date", "loss_date", "burden_ratio",
               "limit_category"]


def _dates(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype="datetime64[D]").astype("datetime64[ns]"))


def _residents_frame(P: pd.DataFrame) -> pd.DataFrame:
    out = _frame({
        "resident_id": P["resident_id"].to_numpy(dtype=object),
        "individual_number": P["individual_number"].to_numpy(dtype=object),
        "individual_number_last4": None,
        "name_kanji": P["name_kanji"].to_numpy(dtype=object),
        "name_kana": P["name_kana"].to_numpy(dtype=object),
        "name_alpha": P["name_alpha"].to_numpy(dtype=object),
        "alias_name": P["alias_name"].to_numpy(dtype=object),
        "former_surname": P["former_surname"].to_numpy(dtype=object),
        "birth_date": _dates(P["birth_date"]),
        "sex": P["sex"].to_numpy(dtype=np.int64),
        "address": P["address"].to_numpy(dtype=object),
        "municipality_code": P["municipality_code"].to_numpy(dtype=object),
        "household_id": P["household_id"].to_numpy(dtype=object),
        "status": P["status"].to_numpy(dtype=object),
        "status_date": _dates(P["status_date"]),
        "moved_in_date": _dates(P["moved_in_date"]),
        "_nationality": P["_nationality"].to_numpy(dtype=object),
    })
    rid = P["resident_id"].to_numpy(dtype=object)
    # Links between persons, as resident ids (for injectors): twin sibling, same-identity stranger.
    out["_twin_of"] = _obj(_link(P["_twin_of"], P, rid), out.index)
    out["_stranger_of"] = _obj(_link(P["_stranger_of"], P, rid), out.index)
    return out


def _link(ref: pd.Series, P: pd.DataFrame, rid: np.ndarray) -> np.ndarray:
    """Map a column of original person row numbers (-1 = none) to resident ids."""
    original = P["_orig_row"].to_numpy()
    out = np.full(len(P), None, dtype=object)
    ref = ref.to_numpy()
    has = ref >= 0
    if not has.any():
        return out
    where = pd.Series(np.arange(len(P)), index=original)
    hit = where.reindex(ref[has])
    ok = hit.notna().to_numpy()
    vals = np.full(has.sum(), None, dtype=object)
    vals[ok] = rid[hit.to_numpy()[ok].astype(int)]
    out[has] = vals
    return out


def _members_frame(rng, P, member, rejoin, acquisition, trigger, loss, reason, today):
    """Member rows (one per membership; re-enrolled persons have two), clean."""
    rows = np.flatnonzero(member)
    re_rows = np.flatnonzero(rejoin)
    n_first, n_re = len(rows), len(re_rows)
    person = np.concatenate([rows, re_rows])
    acq = np.concatenate([acquisition[rows], np.zeros(n_re, dtype="datetime64[D]")])
    los = np.concatenate([loss[rows], np.full(n_re, np.datetime64("NaT"), dtype="datetime64[D]")])
    rsn = np.concatenate([reason[rows], np.full(n_re, None, dtype=object)])
    trg = np.concatenate([trigger[rows], np.full(n_re, "employee_exit", dtype=object)])
    # Re-enrolment: left the employer's insurance 1–12 months after joining it.
    re_acq = _random_between(rng, loss[re_rows] + 30 * DAY, np.minimum(loss[re_rows] + 365 * DAY, today - 50 * DAY))
    acq[n_first:] = re_acq
    M = pd.DataFrame({"_person": person})
    M["_resident_id"] = _obj(P["resident_id"].to_numpy(dtype=object)[person], M.index)
    M["_trigger"] = _obj(trg, M.index)
    M["_rejoined"] = np.concatenate([np.zeros(n_first, bool), np.ones(n_re, bool)])
    M["insurer_number"] = _obj(INSURER_NUMBER, M.index)
    M["insurer_type"] = _obj("kokuho", M.index)
    # member_id: 記号 (district) - 番号 (per 国保 household) - 枝番 (order of membership in it)
    mhh = P["_member_household_id"].to_numpy(dtype=object)[person]
    hh_idx, hh_codes = pd.factorize(mhh)
    bango = rng.permutation(len(hh_codes)) + 100_001
    district = (bango % 7 + 1)
    order = pd.Series(np.arange(len(M))).groupby(hh_idx).cumcount().to_numpy() + 1
    M["member_id"] = _obj(zfill_ints(district[hh_idx], 2) + "-" + zfill_ints(bango[hh_idx], 7) + "-"
                          + zfill_ints(order, 2), M.index)
    M["household_id"] = _obj(mhh, M.index)
    for col in ("name_kanji", "name_kana", "name_alpha", "address", "individual_number"):
        M[col] = _obj(P[col].to_numpy(dtype=object)[person], M.index)
    M["birth_date"] = P["birth_date"].to_numpy(dtype="datetime64[D]")[person]
    M["sex"] = P["sex"].to_numpy(dtype=np.int64)[person]
    M["individual_number_last4"] = _obj(None, M.index)
    M["acquisition_date"] = acq
    M["loss_date"] = los
    M["loss_reason"] = _obj(rsn, M.index)
    moved_in = P["moved_in_date"].to_numpy(dtype="datetime64[D]")[person]
    M["card_issue_date"] = _card_issue_dates(rng, acq, los, trg, moved_in, today)
    active = np.isnat(los)
    for col in ("taxable_income", "kyu_tadashigaki_income"):
        M[col] = np.where(active, P[col].to_numpy(dtype=float)[person], 0.0)
    M["resident_tax_exempt"] = np.where(active, P["resident_tax_exempt"].to_numpy(dtype=bool)[person], True)
    # The insurer delivers only the last four digits for a small share of members.
    last4_only = rng.random(len(M)) < 0.02
    M.loc[last4_only, "individual_number_last4"] = np.array(
        [v[-4:] for v in M.loc[last4_only, "individual_number"]], dtype=object)
    M.loc[last4_only, "individual_number"] = None
    # Values on as_of (active) / on the last insured day (lost), from the household aggregates.
    last_day = np.where(active, today, los - DAY)
    band = rt.age_band(M["birth_date"].to_numpy(), last_day)
    agg = rt.household_aggregates(M["household_id"].to_numpy(), band, M["taxable_income"].to_numpy(),
                                  M["kyu_tadashigaki_income"].to_numpy(), M["resident_tax_exempt"].to_numpy())
    M["burden_ratio"] = rt.burden_ratio(band, agg["geneki_elderly"].to_numpy())
    M["limit_category"] = _obj(rt.limit_category(band, agg), M.index)
    for col in ("birth_date", "acquisition_date", "loss_date", "card_issue_date"):
        M[col] = _dates(M[col]).to_numpy()
    ordered = M[MEMBER_COLUMNS + ["_resident_id", "_trigger", "_rejoined", "_person"]]
    return ordered.sample(frac=1.0, random_state=rng.integers(2**31)).reset_index(drop=True)


def _card_issue_dates(rng, acq, loss, trigger, moved_in, today):
    """交付日: a batch renewal for long-standing members, else a few days to weeks after acquisition.

    Clean by construction: never after ``as_of``, never before acquisition, and equal to it
    only when the member's move-in (or birth) is the acquisition day itself.
    """
    n = len(acq)
    renewal = np.datetime64("2024-07-10") + rng.integers(0, 16, n).astype("timedelta64[D]")
    lag = np.where(trigger == "birth", rng.integers(14, 40, n), rng.integers(1, 22, n)).astype("timedelta64[D]")
    issue = acq + lag
    use_renewal = (acq < renewal - 30 * DAY) & (np.isnat(loss) | (loss > renewal + 30 * DAY)) & (rng.random(n) < 0.9)
    issue = np.where(use_renewal, renewal, issue)
    cap = np.where(np.isnat(loss), today, np.minimum(loss - DAY, today))
    issue = np.minimum(issue, cap)
    same = issue <= acq
    ok_same = (moved_in == acq) & (trigger != "employee_exit")
    issue = np.where(same & ~ok_same, acq + DAY, np.maximum(issue, acq))
    return issue


def oqs_copy(members: pd.DataFrame) -> pd.DataFrame:
    """The intermediary server's copy of the insurer master (clean: identical values)."""
    return members[OQS_COLUMNS].copy()


def _benefits(rng, world: World, today) -> None:
    """Period histories (insurer and OQS identical): age-band changes and Aug 1 re-determinations."""
    M = world.members
    n = len(M)
    birth = M["birth_date"].to_numpy(dtype="datetime64[D]")
    acq = M["acquisition_date"].to_numpy(dtype="datetime64[D]")
    loss = M["loss_date"].to_numpy(dtype="datetime64[D]")
    active = np.isnat(loss)
    end = np.where(active, today, loss - DAY)
    year = pd.Timestamp(today).year
    r_last = np.datetime64(f"{year}-08-01", "D")
    if r_last > today:
        r_last = np.datetime64(f"{year - 1}-08-01", "D")
    r_prev = np.datetime64(f"{pd.Timestamp(r_last).year - 1}-08-01", "D")

    cand = np.stack([rt.preschool_end(birth) + DAY, rt.seventy_start(birth),
                     np.full(n, r_prev), np.full(n, r_last)], axis=1)
    valid = (cand > acq[:, None]) & (cand <= end[:, None])
    valid[~active, 2:] = False  # lost members: no income re-determinations in their history
    starts = np.where(valid, cand, np.datetime64("2262-01-01"))
    starts = np.sort(np.concatenate([acq[:, None], starts], axis=1), axis=1)
    keep = starts < np.datetime64("2262-01-01")
    # de-duplicate equal boundaries in a row
    keep[:, 1:] &= starts[:, 1:] != starts[:, :-1]
    member_pos = np.repeat(np.arange(n), keep.sum(axis=1))
    seg_start = starts[keep]

    # Household aggregates for the three income epochs (0 = current, 1 = before r_last, 2 = before r_prev).
    band_now = rt.age_band(birth, end)
    hh = M["household_id"].to_numpy()
    taxable = M["taxable_income"].to_numpy(dtype=float)
    kyu = M["kyu_tadashigaki_income"].to_numpy(dtype=float)
    exempt = M["resident_tax_exempt"].to_numpy(dtype=bool)
    hh_idx, hh_codes = pd.factorize(hh)
    values = {}
    for epoch in range(3):
        if epoch == 0:
            t, k, e = taxable, kyu, exempt
        else:
            # A quarter of households had a different income that year.
            changed = (rng.random(len(hh_codes)) < 0.25)[hh_idx] & active
            factor = np.exp(rng.normal(0, 0.45, len(hh_codes)))[hh_idx]
            t = np.where(changed & ~exempt, np.round(taxable * factor / 1000) * 1000, taxable)
            k = np.where(changed & ~exempt, np.round(kyu * factor / 1000) * 1000, kyu)
            e = exempt
        agg = rt.household_aggregates(hh_idx, band_now, t, k, e)  # integer codes: no string factorize per epoch
        for band in (rt.PRESCHOOL, rt.WORKING, rt.ELDERLY):
            b = np.full(n, band, dtype=np.int8)
            values[(epoch, band)] = (rt.burden_ratio(b, agg["geneki_elderly"].to_numpy()), rt.limit_category(b, agg))

    seg_band = rt.age_band(birth[member_pos], seg_start)
    seg_band = np.minimum(seg_band, rt.ELDERLY)
    seg_epoch = np.where(seg_start >= r_last, 0, np.where(seg_start >= r_prev, 1, 2))
    seg_epoch = np.where(active[member_pos], seg_epoch, 0)
    ratio = np.zeros(len(seg_start), dtype=np.int64)
    category = np.empty(len(seg_start), dtype=object)
    for (epoch, band), (r, c) in values.items():
        sel = (seg_epoch == epoch) & (seg_band == band)
        ratio[sel] = r[member_pos[sel]]
        category[sel] = c[member_pos[sel]]
    # The current period must equal the member record.
    last_of_member = np.r_[member_pos[1:] != member_pos[:-1], True]
    ratio[last_of_member] = M["burden_ratio"].to_numpy()[member_pos[last_of_member]]
    category[last_of_member] = M["limit_category"].to_numpy(dtype=object)[member_pos[last_of_member]]

    frames = []
    for item, vals in (("burden_ratio", np.array(["10", "20", "30"], dtype=object)[ratio // 10 - 1]),
                       ("limit_category", category)):
        first = np.r_[True, member_pos[1:] != member_pos[:-1]]
        change = first | (vals != np.r_[vals[:1], vals[:-1]])
        pos, start, value = member_pos[change], seg_start[change], vals[change]
        nxt_same = np.r_[pos[1:] == pos[:-1], False]
        valid_to = np.where(nxt_same, np.r_[start[1:], start[:1]] - DAY, np.where(active[pos], np.datetime64("NaT"), end[pos]))
        frames.append(_frame({
            "insurer_number": M["insurer_number"].to_numpy(dtype=object)[pos],
            "member_id": M["member_id"].to_numpy(dtype=object)[pos],
            "item": item, "value": value,
            "valid_from": _dates(start).to_numpy(), "valid_to": _dates(valid_to).to_numpy(),
        }))
    insurer = pd.concat(frames, ignore_index=True)
    insurer.insert(0, "source", _obj("insurer", insurer.index))
    oqs = insurer.copy()
    oqs["source"] = _obj("oqs", oqs.index)
    world.benefit_history = pd.concat([insurer, oqs], ignore_index=True)


def status_as_of(as_of: pd.Timestamp) -> pd.Timestamp:
    """The national status file reflects the end of the month before last."""
    first = pd.Timestamp(as_of).normalize().replace(day=1)
    return first - pd.DateOffset(months=1) - pd.Timedelta(days=1)


def _card_status(rng, world: World, today) -> pd.DataFrame:
    """初回登録・有効期限状況 for every active member; every 職権交付 target holds a 資格確認書."""
    M = world.members
    active = M["loss_date"].isna().to_numpy()
    A = M.loc[active]
    n = len(A)
    st = np.datetime64(status_as_of(world.as_of).date(), "D")
    birth = A["birth_date"].to_numpy(dtype="datetime64[D]")
    acq = A["acquisition_date"].to_numpy(dtype="datetime64[D]")
    issue = A["card_issue_date"].to_numpy(dtype="datetime64[D]")
    age = rt.age_on(birth, today)
    p_reg = np.select([age < 10, age < 20, age >= 65], [0.55, 0.7, 0.82], default=0.8)
    registered = rng.random(n) < p_reg
    reg_date = _random_between(rng, np.full(n, np.datetime64("2021-10-20")), np.full(n, st - 5 * DAY))
    reg_date = np.maximum(reg_date, birth + 30 * DAY)
    # The card was issued before registration; the certificate runs to the 5th birthday after issue.
    card_issued = reg_date - rng.integers(0, 400, n).astype("timedelta64[D]")
    card_issued = np.maximum(card_issued, np.maximum(birth + 20 * DAY, np.datetime64("2016-01-05")))
    years_since_birth = rt.age_on(birth, card_issued)
    expiry = _add_years_to_birthday(birth, years_since_birth + 5)
    # Renewed cards: keep the certificate valid well past as_of for clean members.
    for _ in range(3):
        expiry = np.where(expiry <= today + 60 * DAY, _add_years_to_birthday(birth, rt.age_on(birth, expiry) + 5), expiry)
    cancel = np.full(n, None, dtype=object)
    cancelled_on_request = registered & (rng.random(n) < 0.004)
    cancel[cancelled_on_request] = "1"
    registered_flag = registered & ~cancelled_on_request
    returned = registered_flag & (rng.random(n) < 0.002)
    returned_date = np.where(returned, _random_between(rng, np.full(n, today - 200 * DAY), np.full(n, st - 10 * DAY)),
                             np.datetime64("NaT"))
    restricted = rng.random(n) < 0.001
    requested = registered_flag & (age >= 75 - 10) & (rng.random(n) < 0.01)
    target = ~registered_flag | cancelled_on_request | returned | restricted | requested
    # 資格確認書: at enrolment (new members), else in the 2025 switch-over, or after the trigger.
    switch = np.datetime64("2025-07-15") + rng.integers(0, 100, n).astype("timedelta64[D]")
    kakunin = np.where(acq >= PAPER_CARDS_END, issue, switch)
    after_return = returned_date + rng.integers(5, 25, n).astype("timedelta64[D]")
    kakunin = np.where(returned, after_return, kakunin)
    kakunin = np.minimum(np.maximum(kakunin, acq), today)
    kakunin = np.where(target, kakunin, np.datetime64("NaT"))
    oshirase = np.where(registered_flag & ~target,
                        np.where(acq >= PAPER_CARDS_END, issue, np.datetime64("2025-07-20") + rng.integers(0, 60, n).astype("timedelta64[D]")),
                        np.datetime64("NaT"))
    oshirase = np.where(np.isnat(oshirase), oshirase, np.minimum(np.maximum(oshirase, acq), today))
    out = _frame({
        "insurer_number": A["insurer_number"].to_numpy(dtype=object),
        "member_id": A["member_id"].to_numpy(dtype=object),
        "registered": registered_flag,
        "registration_date": _dates(np.where(registered, reg_date, np.datetime64("NaT"))).to_numpy(),
        "cancellation_code": cancel,
        "ecert_expiry_date": _dates(np.where(registered, expiry, np.datetime64("NaT"))).to_numpy(),
        "card_returned_date": _dates(returned_date).to_numpy(),
        "self_info_restricted": restricted,
        "kakuninsho_requested": requested,
        "kakuninsho_issued_date": _dates(kakunin).to_numpy(),
        "oshirase_issued_date": _dates(oshirase).to_numpy(),
        "status_as_of": pd.Timestamp(st).as_unit("ns"),
    })
    return out


def _add_years_to_birthday(birth: np.ndarray, age: np.ndarray) -> np.ndarray:
    """The birthday on which the person turns ``age`` (vectorised over ``age``)."""
    y, m, d = rt._ymd(birth)
    return rt._month_start(y + age, m) + (d - 1).astype("timedelta64[D]")
