"""Words of the web pages (画面の文言), Japanese first — labels come from the registry and queue table."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from reconcile import queues
from reports import labels
from reports.evidence import suggested_person

SIDE_FIELDS = ("name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "address", "last4", "household",
               "municipality")
FIELDS = {
    "name_kanji": ("氏名（漢字）", "Name (kanji)"), "name_kana": ("氏名（カナ）", "Name (kana)"),
    "name_alpha": ("氏名（英字）", "Name (alphabet)"), "birth_date": ("生年月日", "Birth date"),
    "sex": ("性別", "Sex"), "address": ("住所", "Address"), "last4": ("個人番号（下4桁）", "Number (last four)"),
    "household": ("世帯番号", "Household"), "municipality": ("市区町村コード", "Municipality"),
}
SEVERITIES = {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low"), "info": ("参考", "info")}
ACTIONS = {
    "claimed": ("担当を引き受け", "claimed"), "resolved": ("解決", "resolved"), "released": ("手放し", "released"),
    "reopened_by_supervisor": ("再オープン（監督者）", "reopened by a supervisor"), "lease_expired": ("担当の期限切れ", "lease expired"),
    "commented": ("コメント", "comment"), "assigned": ("割当", "assigned"), "reopened": ("再検出で再オープン", "reopened by a scan"),
    "auto_resolved": ("検出されなくなった", "no longer detected"), "closed_not_seen": ("検出されなくなった", "no longer detected"),
    "not_seen": ("今回のスキャンで検出されず", "not raised by the latest scan"), "transition": ("状態の変更", "status change"),
    "created": ("作成", "created"),
}

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "app": "突合作業", "sign_in": "サインイン", "sign_out": "サインアウト", "username": "利用者名",
        "password": "パスワード（または API トークン）", "login_failed": "利用者名またはパスワードが違います。",
        "csrf_failed": "フォームの有効期限が切れました。もう一度操作してください。",
        "queues": "作業キュー", "dashboard": "ダッシュボード", "open": "未対応", "in_progress": "対応中",
        "overdue": "期限超過", "oldest": "最も古い未対応", "days": "{n}日", "next_item": "次の項目へ",
        "queue_items": "項目一覧", "no_items": "条件に合う項目はありません。", "filter": "絞り込み", "search": "被保険者IDで検索",
        "status": "状態", "severity": "重要度", "rule": "内容", "all": "すべて", "apply": "適用", "more": "次の{n}件",
        "filter_active": "未処理（未対応＋対応中）", "filter_open": "未対応", "filter_in_progress": "対応中",
        "filter_mine": "自分が対応中", "filter_closed": "処理済み・検出されなくなった",
        "insurer": "保険者番号", "member": "被保険者ID", "summary": "概要", "due": "処理期限", "created": "作成日",
        "assignee": "担当", "member_side": "保険者の記録", "resident_side": "住基の記録", "field": "項目",
        "comparison": "照合結果", "reason": "表記ゆれの理由", "suggested": "本人と思われる住民", "evidence": "根拠",
        "next_step": "次にすること", "history": "履歴", "comments": "コメント", "add_comment": "コメントを追加",
        "resolve": "解決する", "resolution": "判断", "note": "メモ（必須）", "then_next": "解決したら次の項目へ",
        "shortcuts": "キー操作: 1・2・3 で判断を選ぶ → メモを書く → Ctrl+Enter で解決。n で次の項目、Esc でメモから抜ける。",
        "release": "手放す", "held_by": "{who} さんが対応中です。", "probability": "紐付け誤りの確率",
        "pattern": "見立て", "partner": "関係する被保険者", "differs": "異なる文字", "same": "一致",
        "resolution_help_resolved_fixed": "誤りを確認した（保険者側で修正する）",
        "resolution_help_resolved_false_positive": "誤りではなかった",
        "resolution_help_resolved_wont_fix": "対応しない（理由をメモに）",
        "msg_resolved": "解決しました。次の項目です。", "msg_queue_empty": "このキューに未対応の項目はありません。",
        "msg_queue_done": "解決しました。このキューの未対応はなくなりました。", "msg_commented": "コメントを追加しました。",
        "msg_released": "項目を手放しました。", "not_found": "見つかりません", "forbidden": "権限がありません",
        "back": "キュー一覧へ", "privacy": "個人番号は下4桁のみ表示しています。",
        "dash_backlog": "キュー・経過日数別の未処理", "dash_trend": "週ごとの処理件数", "dash_sla": "処理期限の超過",
        "dash_empty": "スキャンがまだないため、表示する数字がありません。", "week": "週", "new": "新規",
        "closed_by_steward": "担当者が解決", "no_longer_detected": "検出されなくなった", "backlog_end": "週末の未処理",
        "total": "計", "oldest_overdue_days": "最大超過日数", "due_next_7_days": "7日以内に期限", "no_due": "処理期限が設定されていません。",
        "queue": "キュー", "kpi_backlog": "未処理", "kpi_overdue": "期限超過", "kpi_closed": "今週の解決（担当者）",
        "kpi_new": "今週の新規", "error": "エラー",
    },
    "en": {
        "app": "Reconciliation work", "sign_in": "Sign in", "sign_out": "Sign out", "username": "User name",
        "password": "Password (or API token)", "login_failed": "Wrong user name or password.",
        "csrf_failed": "The form expired. Please try again.",
        "queues": "Work queues", "dashboard": "Dashboard", "open": "Open", "in_progress": "In progress",
        "overdue": "Past due", "oldest": "Oldest open", "days": "{n} days", "next_item": "Next item",
        "queue_items": "Items", "no_items": "No item matches.", "filter": "Filter", "search": "Member id",
        "status": "Status", "severity": "Severity", "rule": "Finding", "all": "all", "apply": "Apply", "more": "Next {n}",
        "filter_active": "Open and in progress", "filter_open": "Open", "filter_in_progress": "In progress",
        "filter_mine": "Mine in progress", "filter_closed": "Resolved or no longer detected",
        "insurer": "Insurer", "member": "Member", "summary": "Summary", "due": "Due", "created": "Created",
        "assignee": "Assignee", "member_side": "Insurer's record", "resident_side": "Registry's record", "field": "Field",
        "comparison": "Comparison", "reason": "Notation reason", "suggested": "Probably this resident",
        "evidence": "Evidence", "next_step": "Next step", "history": "History", "comments": "Comments",
        "add_comment": "Add comment", "resolve": "Resolve", "resolution": "Decision", "note": "Note (required)",
        "then_next": "Go to the next item", "release": "Release",
        "shortcuts": "Keys: 1, 2, 3 choose the decision → write the note → Ctrl+Enter resolves. n: next item; Esc leaves the note.",
        "held_by": "{who} is working on it.", "probability": "Probability of a mis-link", "pattern": "Looks like",
        "partner": "Related member", "differs": "differing characters", "same": "same",
        "resolution_help_resolved_fixed": "the error is real (the insurer fixes it)",
        "resolution_help_resolved_false_positive": "not an error",
        "resolution_help_resolved_wont_fix": "no action (say why in the note)",
        "msg_resolved": "Resolved. Here is the next item.", "msg_queue_empty": "No open item left in this queue.",
        "msg_queue_done": "Resolved. The queue has no open item left.", "msg_commented": "Comment added.",
        "msg_released": "Item released.", "not_found": "Not found", "forbidden": "Forbidden",
        "back": "Back to the queues", "privacy": "Individual numbers are shown by their last four digits only.",
        "dash_backlog": "Backlog by queue and age", "dash_trend": "Throughput per week", "dash_sla": "Service-level breaches",
        "dash_empty": "No scan yet, so there is nothing to show.", "week": "Week", "new": "New",
        "closed_by_steward": "Resolved by stewards", "no_longer_detected": "No longer detected", "backlog_end": "Open at week end",
        "total": "Total", "oldest_overdue_days": "Most days past due", "due_next_7_days": "Due within 7 days",
        "no_due": "Items carry no due dates.", "queue": "Queue", "kpi_backlog": "Open", "kpi_overdue": "Past due",
        "kpi_closed": "Resolved this week", "kpi_new": "New this week", "error": "Error",
    },
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ja" else pair[1]


def rule_label(rule_id: str, lang: str) -> str:
    return labels.rule(rule_id, lang)


def severity_label(severity: str | None, lang: str) -> str:
    return _pick(SEVERITIES.get(severity or "", (severity or "", severity or "")), lang)


def status_label(status: str | None, lang: str) -> str:
    return labels.status(status, lang) if status else ""


def field_label(field: str, lang: str) -> str:
    return _pick(FIELDS.get(field, (field, field)), lang)


def action_label(action: str, lang: str) -> str:
    return _pick(ACTIONS.get(action, (action, action)), lang)


def shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def comparison_words(label: str | None, lang: str) -> str:
    """The matcher's level label ``"english / 日本語"`` in one language."""
    if not label:
        return ""
    english, _, japanese = label.partition(" / ")
    return (japanese or english) if lang == "ja" else english


def percent(score: Any) -> str:
    try:
        return f"{float(score) * 100:.0f}%"
    except (TypeError, ValueError):
        return ""


def day(value: Any) -> str:
    if isinstance(value, datetime):
        from zoneinfo import ZoneInfo
        return value.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d") if value.tzinfo else value.strftime("%Y-%m-%d")
    return "" if value is None else str(value)[:10]


def moment(value: Any) -> str:
    if isinstance(value, datetime):
        from zoneinfo import ZoneInfo
        local = value.astimezone(ZoneInfo("Asia/Tokyo")) if value.tzinfo else value
        return local.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)[:16]


def rules_of_queue(queue: str) -> list[str]:
    """The catalogue rules whose findings go to ``queue`` (queue table first, then the category fallback)."""
    out = [r for r, _, q in queues.ROUTES if q == queue]
    out += [r for r, category in labels.RULE_CATEGORIES.items() if queues.CATEGORY_QUEUES.get(category) == queue]
    return list(dict.fromkeys(r for r in out if r in labels.RULES))


def member_ref(member: dict, lang: str) -> str:
    insurer, member_id = member.get("insurer_number"), member.get("member_id")
    if lang == "ja":
        return f"保険者番号 {insurer}・被保険者ID {member_id}"
    return f"insurer {insurer}, member {member_id}"


def resident_ref(resident: dict | None, lang: str) -> str:
    if not resident or not resident.get("resident_id"):
        return ""
    return f"住民票コード（宛名番号） {resident['resident_id']}" if lang == "ja" else f"resident id {resident['resident_id']}"


def notation_reasons(evidence: dict, lang: str) -> list[str]:
    """The notation reason codes in words (異体字・旧字体, 全角半角, …)."""
    try:
        from detectors.rules.mislink import REASON_LABELS_JA
    except ImportError:   # pragma: no cover
        REASON_LABELS_JA = {}
    codes = evidence.get("reasons") or evidence.get("reason_codes") or []
    if evidence.get("pattern") and not codes:
        return []
    codes = [c for c in codes if isinstance(c, str) and not c.startswith("LINKED_")]
    if lang == "ja":
        return [REASON_LABELS_JA.get(c, c) for c in codes]
    return [c.replace("_", " ").lower() for c in codes]


def pattern(evidence: dict, lang: str) -> str:
    return evidence.get("pattern_ja" if lang == "ja" else "pattern_en") or ""


def suggested_in_words(evidence: dict, suggested: dict, lang: str) -> dict | None:
    """The suggested right resident: who (name, birth date, resident id, last four), how likely, and why."""
    person = suggested_person(evidence, suggested.get("resident_id"), suggested.get("individual_number_last4"))
    if person is None:
        return None
    fields = (evidence.get("suggested") or {}).get("fields") or {}
    why = []
    for field in SIDE_FIELDS:
        compared = fields.get(field)
        if isinstance(compared, dict) and compared.get("label"):
            why.append({"label": field_label(field, lang), "words": comparison_words(compared["label"], lang),
                        "member": shown(compared.get("member")), "resident": shown(compared.get("resident"))})
    p_same = suggested.get("p_same")
    return {"label": person.label(lang), "probability": percent(p_same) if p_same is not None else "", "why": why}


NEXT_STEPS = {
    "mislink": ("本人と思われる住民の氏名・生年月日を住基で確かめ、誤りなら正しい個人番号に紐付け直して「修正済み」に。別人でなければ「誤検知」。",
                "Check the suggested resident's name and birth date in the registry; if the link is wrong, relink the "
                "right number and mark it fixed, otherwise mark it a false positive."),
    "notation": ("住基の表記に合わせて保険者の氏名を直し「修正済み」に。別人なら紐付け誤りとして扱う。",
                 "Bring the insurer's name in line with the registry and mark it fixed; if it is another person, treat it as a mis-link."),
    "burden_ratio": ("所得・年齢の根拠を確かめ、負担割合を正して中間サーバーへ再送する。",
                     "Check income and age, correct the burden ratio and resend it to the online copy."),
    "limit_category": ("所得区分を確かめ、限度額適用区分を正して再送する。", "Check the income band, correct the category and resend it."),
    "qualification_date": ("資格取得・喪失日を届出と照らし、正しい日付で再送する。",
                           "Check the acquisition and loss dates against the notifications and resend the right dates."),
    "card_issuance": ("資格確認書を職権で交付し、交付記録を登録する。", "Issue the 資格確認書 ex officio and record the issue."),
    "feed": ("提供元にフィードの作成条件が変わっていないか確かめる。", "Ask the sender whether the extract changed."),
}


def next_step(item: dict, evidence: dict, lang: str) -> str:
    pair = NEXT_STEPS.get(item.get("category") or "")
    return _pick(pair, lang) if pair else ""
