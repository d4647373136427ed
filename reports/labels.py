"""Display labels for reports, Japanese and English (表示ラベル).

Reports are pure builders and do not import :mod:`detectors`; the ids here (categories, statuses,
rule ids) are the stable ones of the findings contract (``/work/shared/contract/findings.md``).
An id without a label is shown as itself, so a rule added later still renders.
"""
from __future__ import annotations

LANGS = ("ja", "en")

CATEGORY_ORDER = ("mislink", "notation", "burden_ratio", "limit_category", "qualification_date",
                  "card_issuance", "feed")
STATUS_ORDER = ("open", "in_progress", "resolved_fixed", "resolved_false_positive", "resolved_wont_fix",
                "closed_not_seen")
# Which statuses count as open, confirmed, … is defined once, in reports.counts.

CATEGORIES = {
    "mislink": ("紐付け誤り", "Mis-link"),
    "notation": ("表記ゆれ", "Notation difference"),
    "burden_ratio": ("一部負担割合", "Burden ratio"),
    "limit_category": ("限度額適用区分", "Limit category"),
    "qualification_date": ("資格取得・喪失日", "Qualification dates"),
    "card_issuance": ("資格確認書の交付", "Kakuninsho issuance"),
    "feed": ("フィード全体", "Feed level"),
}

STATUSES = {
    "open": ("未対応", "Open"),
    "in_progress": ("対応中", "In progress"),
    "resolved_fixed": ("修正済み", "Fixed"),
    "resolved_false_positive": ("誤検知", "False positive"),
    "resolved_wont_fix": ("対応不要", "Won't fix"),
    "closed_not_seen": ("検出されなくなった", "No longer detected"),
}

RULES = {
    "MISLINK_SUSPECTED": ("紐付け誤りの疑い", "Suspected mis-link"),
    "NUMBER_SHARED": ("同一個人番号を複数被保険者が共有", "One number linked to several members"),
    "NUMBER_INVALID": ("個人番号の検査用数字不正・欠落", "Number fails check digit or is missing"),
    "RESIDENT_NOT_FOUND": ("住基に該当する住民なし", "No resident for the linked number"),
    "NOTATION_DIFFERENCE": ("氏名の表記差異（同一人）", "Name notation differs (same person)"),
    "BURDEN_RATIO_OQS_MISMATCH": ("一部負担割合が中間サーバーと不一致", "Burden ratio differs from OQS copy"),
    "BURDEN_RATIO_RULE": ("一部負担割合が年齢・所得要件と矛盾", "Burden ratio contradicts age/income rules"),
    "LIMIT_CATEGORY_OQS_MISMATCH": ("限度額適用区分が中間サーバーと不一致", "Limit category differs from OQS copy"),
    "LIMIT_CATEGORY_RULE": ("限度額適用区分が要件と矛盾", "Limit category contradicts its conditions"),
    "BENEFIT_HISTORY_DIVERGENCE": ("給付履歴が中間サーバーと相違", "Benefit history diverges from OQS"),
    "QUAL_DATE_IS_ISSUE_DATE": ("資格取得日＝交付日", "Acquisition date equals card issue date"),
    "QUAL_DATE_OQS_MISMATCH": ("資格取得・喪失日が中間サーバーと不一致", "Qualification dates differ from OQS"),
    "QUAL_LOSS_NOT_LINKED": ("資格喪失が中間サーバーに未反映", "Loss not reflected on OQS"),
    "QUAL_ACTIVE_AFTER_EXIT": ("転出・死亡後も資格あり", "Active after move-out or death"),
    "QUAL_ACTIVE_PAST_AGE_LIMIT": ("75歳到達後も国保資格あり", "Active in kokuho past 75"),
    "QUAL_OVERLAP": ("資格の重複", "Overlapping qualifications"),
    "QUAL_DATE_INVALID": ("あり得ない資格日付", "Impossible qualification dates"),
    "KAKUNINSHO_NOT_ISSUED": ("資格確認書の職権交付漏れ", "Kakuninsho not issued ex officio"),
    "FEED_DRIFT": ("フィード統計の急変", "Feed statistic drifted"),
}

# The catalogue's category of each rule (contract findings.md); BENEFIT_HISTORY_DIVERGENCE may be
# either benefit category — its findings carry their own.
RULE_CATEGORIES = {
    "MISLINK_SUSPECTED": "mislink", "NUMBER_SHARED": "mislink", "NUMBER_INVALID": "mislink",
    "RESIDENT_NOT_FOUND": "mislink", "NOTATION_DIFFERENCE": "notation",
    "BURDEN_RATIO_OQS_MISMATCH": "burden_ratio", "BURDEN_RATIO_RULE": "burden_ratio",
    "LIMIT_CATEGORY_OQS_MISMATCH": "limit_category", "LIMIT_CATEGORY_RULE": "limit_category",
    "BENEFIT_HISTORY_DIVERGENCE": "burden_ratio", "QUAL_DATE_IS_ISSUE_DATE": "qualification_date",
    "QUAL_DATE_OQS_MISMATCH": "qualification_date", "QUAL_LOSS_NOT_LINKED": "qualification_date",
    "QUAL_ACTIVE_AFTER_EXIT": "qualification_date", "QUAL_ACTIVE_PAST_AGE_LIMIT": "qualification_date",
    "QUAL_OVERLAP": "qualification_date", "QUAL_DATE_INVALID": "qualification_date",
    "KAKUNINSHO_NOT_ISSUED": "card_issuance", "FEED_DRIFT": "feed",
}


def _pick(table: dict[str, tuple[str, str]], key: object, lang: str) -> str:
    pair = table.get(str(key))
    if pair is None:
        return str(key)
    return pair[0] if lang == "ja" else pair[1]


def category(key: object, lang: str) -> str:
    return _pick(CATEGORIES, key, lang)


def status(key: object, lang: str) -> str:
    return _pick(STATUSES, key, lang)


def rule(key: object, lang: str) -> str:
    return _pick(RULES, key, lang)


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    return lang
