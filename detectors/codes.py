"""Code tables (コード表) — the one place each table lives; everything else imports them."""
from __future__ import annotations

# 限度額適用区分 / limit category: code -> (Japanese label, age band)
UNDER_70 = "under_70"
SEVENTY_PLUS = "70_plus"
LIMIT_CATEGORIES: dict[str, tuple[str, str]] = {
    "A": ("ア", UNDER_70),
    "I": ("イ", UNDER_70),
    "U": ("ウ", UNDER_70),
    "E": ("エ", UNDER_70),
    "O": ("オ", UNDER_70),
    "G3": ("現役並みⅢ", SEVENTY_PLUS),
    "G2": ("現役並みⅡ", SEVENTY_PLUS),
    "G1": ("現役並みⅠ", SEVENTY_PLUS),
    "IP": ("一般", SEVENTY_PLUS),
    "L2": ("低所得Ⅱ", SEVENTY_PLUS),
    "L1": ("低所得Ⅰ", SEVENTY_PLUS),
}
GENEKI_NAMI = frozenset({"G1", "G2", "G3"})  # 現役並み categories

# Input spellings accepted for each code: the Japanese labels and the online-qualification
# business codes (A01–A05 ア–オ, B01–B06 現役並みⅢ…低所得Ⅰ; domain brief §5, unverified spec).
LIMIT_CATEGORY_ALIASES: dict[str, str] = {
    **{code: code for code in LIMIT_CATEGORIES},
    **{label: code for code, (label, _) in LIMIT_CATEGORIES.items()},
    "A01": "A", "A02": "I", "A03": "U", "A04": "E", "A05": "O",
    "B01": "G3", "B02": "G2", "B03": "G1", "B04": "IP", "B05": "L2", "B06": "L1",
    "現役並み3": "G3", "現役並み2": "G2", "現役並み1": "G1",
    "現役並みIII": "G3", "現役並みII": "G2", "現役並みI": "G1",
    "低所得2": "L2", "低所得1": "L1", "低所得II": "L2", "低所得I": "L1",
}

# 一部負担割合 / burden ratio, percent
BURDEN_RATIOS = (10, 20, 30)

# 資格喪失事由 / loss reason
LOSS_REASONS = {
    "1": "転出 / moved out",
    "2": "死亡 / death",
    "3": "被用者保険加入 / joined employee insurance",
    "4": "後期高齢者医療へ移行 / moved to late-elderly insurance",
    "9": "その他 / other",
}

INSURER_TYPES = {
    "kokuho": "市町村国保",
    "kumiai": "国保組合",
    "kouki": "後期高齢者医療",
    "employee": "被用者保険",
}

RESIDENT_STATUSES = ("active", "moved_out", "deceased")

# 初回登録解除区分 / registration cancellation code
CANCELLATION_CODES = {
    "1": "本人申請による解除 / cancelled on request",
    "2": "職権解除（電子証明書失効） / cancelled ex officio",
}

BENEFIT_SOURCES = ("insurer", "oqs")
BENEFIT_ITEMS = ("burden_ratio", "limit_category")
