"""The independent generator's world: people, households, insurer records, and its own rules.

Written from ../shared/contract/*.md and ../shared/domain.md alone.  The truth oracle at the
bottom (`compute_truth`) is this generator's own reading of findings.md and domain.md §1–8,
evaluated on the *true* world (who each member really is), not on the feed's notation.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from functools import lru_cache

from . import names as N

ONE = timedelta(days=1)
CARD_STOP = date(2024, 12, 2)  # new paper cards stopped (domain §8)


# --------------------------------------------------------------------------- dates and numbers
@lru_cache(maxsize=1 << 18)
def add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # Feb 29 (never generated, kept safe)
        return d.replace(year=d.year + n, day=28)


def add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, 1) if d.day == 1 else date(y, m, min(d.day, 28))


def month_end(y: int, m: int) -> date:
    return date(y + (m == 12), m % 12 + 1, 1) - ONE


def check_digit(first11: str) -> int:
    """domain §3."""
    s = 0
    for n in range(1, 12):
        p = int(first11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        s += p * q
    r = s % 11
    return 0 if r <= 1 else 11 - r


def valid_number(num: str) -> bool:
    return len(num) == 12 and num.isdigit() and check_digit(num[:11]) == int(num[11])


def insurer_check(first5: str) -> str:
    """保険者番号 検証番号 (weights 2,1 from the right, digit sums)."""
    total = 0
    for i, ch in enumerate(reversed(first5)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10)


INSURER_NUMBER = "12239" + insurer_check("12239")
KOUKI_INSURER_NUMBER = "3912001" + insurer_check("3912001")  # 後期高齢者医療広域連合 (法別 39)


@lru_cache(maxsize=1 << 17)
def child_20_end(birth: date) -> date:
    """Last day of the 20% pre-school period (domain §4)."""
    reach6 = add_years(birth, 6) - ONE
    m31 = date(reach6.year, 3, 31)
    return m31 if m31 >= reach6 else date(reach6.year + 1, 3, 31)


@lru_cache(maxsize=1 << 17)
def band70_start(birth: date) -> date:
    """First day of the 70–74 band: the 1st of the month after the month of reaching 70."""
    reach70 = add_years(birth, 70) - ONE
    return add_months(date(reach70.year, reach70.month, 1), 1)


def age_on(birth: date, d: date) -> int:
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def past_75(birth: date, as_of: date) -> bool:
    return as_of > add_years(birth, 75) + ONE


# --------------------------------------------------------------------------- model
class Person:
    __slots__ = ("rid", "num", "sur", "giv", "ksur", "kgiv", "kanji", "kana", "alpha", "alias", "alias_kana",
                 "former", "birth", "sex", "hh", "addr", "muni", "status", "sdate", "moved_in", "nat",
                 "own", "idx", "kanji_given_form", "addr_parts", "omit", "no_kana")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class Member:
    __slots__ = ("mid", "hh", "pid", "itype", "name_kanji", "name_kana", "name_alpha", "birth", "sex", "addr",
                 "num", "last4", "acq", "loss", "loss_reason", "issue", "ratio", "cat", "taxable", "kyu",
                 "exempt", "oqs_acq", "oqs_loss", "oqs_ratio", "oqs_cat", "hist", "card", "tags", "clean",
                 "locked", "no_benefit", "idx", "extra_num_also_last4", "no_income", "no_category",
                 "oqs_loss_set", "no_history", "kouki")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))
        if self.tags is None:
            self.tags = []
        if self.hist is None:
            self.hist = []

    def active(self, as_of: date) -> bool:
        return self.loss is None or self.loss > as_of

    def tag(self, rule, pattern, suggested=None):
        self.tags.append((rule, pattern, suggested))
        self.locked = True


class World:
    def __init__(self, seed: int, members: int, profile: str, as_of: date):
        self.seed = seed
        self.target = members
        self.profile = profile
        self.as_of = as_of
        self.rng = random.Random(seed * 7919 + (0 if profile == "realistic" else 1))
        self.persons: list[Person] = []
        self.members: list[Member] = []
        self.numbers: set[str] = set()
        self.by_num: dict[str, Person] = {}
        self.hh_seq = 0
        self.rid_seq = 0
        self.month = 0
        self.households: dict[str, list[Person]] = {}

    # ---------------------------------------------------------------- ids
    def new_number(self) -> str:
        r = self.rng
        while True:
            f = "%011d" % r.randrange(10**10, 10**11)
            n = f + str(check_digit(f))
            if n not in self.numbers:
                self.numbers.add(n)
                return n

    def new_rid(self, own=True) -> str:
        self.rid_seq += 1 + self.rng.randrange(3)
        return ("1%09d" if own else "9%09d") % self.rid_seq

    def new_hh(self) -> str:
        self.hh_seq += 1
        return "%08d" % (20000000 + self.hh_seq * 3)

    def person(self, **kw) -> Person:
        p = Person(**kw)
        p.idx = len(self.persons)
        if p.num is None:
            p.num = self.new_number()
        else:
            self.numbers.add(p.num)
        self.by_num[p.num] = p
        if p.rid is None:
            p.rid = self.new_rid(p.own)
        self.persons.append(p)
        return p

    # ---------------------------------------------------------------- names
    def jp_name(self, sex: int, sur=None):
        r = self.rng
        if sur is None:
            sur = r.choices(N.SURNAMES, weights=N.SURNAME_WEIGHTS)[0]
        giv = r.choice(N.MALE if sex == 1 else N.FEMALE)
        return sur, giv

    def address(self, rural=False) -> tuple[str, str]:
        """registry address, and the parts for insurer notation variants"""
        r = self.rng
        if rural or r.random() < 0.12:
            town = r.choice(N.RURAL)
            n = r.randrange(1, 3000)
            return f"{N.PREF}{N.CITY}{town}{n}番地", f"rural|{town}|{n}"
        town = r.choice(N.TOWNS)
        c, b, g = r.randrange(1, 6), r.randrange(1, 30), r.randrange(1, 25)
        return f"{N.PREF}{N.CITY}{town}{c}丁目{b}番{g}号", f"urban|{town}|{c}|{b}|{g}"


def insurer_address(registry_addr: str, parts: str, rng: random.Random) -> str:
    """Address notation variants: never a finding by themselves (findings.md)."""
    x = rng.random()
    if x < 0.55:
        return registry_addr
    p = parts.split("|")
    fw = str.maketrans("0123456789-", "０１２３４５６７８９－")
    if p[0] == "rural":
        town, n = p[1], p[2]
        short = town.replace("大字", "").replace("字", "")
        v = [f"{N.CITY}{short}{n}", f"{N.PREF}{N.CITY}{short}{n}番地", f"{N.CITY}{town}{n}番地"]
        s = rng.choice(v)
    else:
        town, c, b, g = p[1:]
        v = [f"{N.CITY}{town}{c}-{b}-{g}", f"{N.PREF}{N.CITY}{town}{c}丁目{b}-{g}",
             f"{N.CITY}{town}{c}丁目{b}番地{g}", f"{N.PREF}{N.CITY}{town}{c}-{b}-{g}"]
        s = rng.choice(v)
    if rng.random() < 0.3:
        s = s.translate(fw)
    return s


# --------------------------------------------------------------------------- the generator's own rules
def expected_ratio(birth: date, as_of: date, hh_income_70: bool) -> int:
    if as_of <= child_20_end(birth):
        return 20
    if as_of >= band70_start(birth):
        return 30 if hh_income_70 else 20
    return 30


def in_band70(birth: date, as_of: date) -> bool:
    return band70_start(birth) <= as_of and not as_of >= add_years(birth, 75)


def boundary70(birth: date, as_of: date) -> bool:
    """Reached 70 (or about to) but the 70–74 band has not started, or started this month."""
    b = band70_start(birth)
    return abs((b - as_of).days) <= 45


def expected_category(m, hh_members, as_of: date) -> str:
    """domain §5; hh_members = the insurer household's active members (incl. m)."""
    all_exempt = all(x.exempt for x in hh_members)
    if in_band70(m.birth, as_of):
        top = max([x.taxable or 0 for x in hh_members if in_band70(x.birth, as_of)] or [0])
        if top >= 6_900_000:
            return "G3"
        if top >= 3_800_000:
            return "G2"
        if top >= 1_450_000:
            return "G1"
        if all_exempt:
            return "L1" if all((x.kyu or 0) == 0 and (x.taxable or 0) == 0 for x in hh_members) else "L2"
        return "IP"
    if all_exempt:
        return "O"
    s = sum(x.kyu or 0 for x in hh_members)
    if s > 9_010_000:
        return "A"
    if s > 6_000_000:
        return "I"
    if s > 2_100_000:
        return "U"
    return "E"


def hh_income_70(hh_members, as_of: date) -> bool:
    return any(in_band70(x.birth, as_of) and (x.taxable or 0) >= 1_450_000 for x in hh_members)


G_CODES = {"G1", "G2", "G3"}
LOW_CODES = {"IP", "L1", "L2"}


def value_on(hist, source, item, d):
    for (src, it, v, f, t) in hist:
        if src == source and it == item and f <= d and (t is None or d <= t):
            return v
    return None


def histories_diverge(hist) -> bool:
    if not hist:
        return False
    for item in ("burden_ratio", "limit_category"):
        ins = [h for h in hist if h[0] == "insurer" and h[1] == item]
        oqs = [h for h in hist if h[0] == "oqs" and h[1] == item]
        if not ins and not oqs:
            continue
        if sorted((h[2], h[3], h[4] or date.max) for h in ins) != sorted((h[2], h[3], h[4] or date.max) for h in oqs):
            # compare day by day at every boundary
            pts = set()
            for h in ins + oqs:
                pts.add(h[3])
                if h[4]:
                    pts.add(h[4])
                    pts.add(h[4] + ONE)
            for d in pts:
                a, b = value_on(hist, "insurer", item, d), value_on(hist, "oqs", item, d)
                if a is not None and b is not None and a != b:
                    return True
    return False
