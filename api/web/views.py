"""Web pages: one context builder per page, rendered as HTML or (``?format=json``) as JSON.

Routes stay thin: parse the form or query, call :mod:`reconcile.workflow` with the signed-in actor,
build the page's context, render. Scoping and permissions are the workflow's (another insurer's
item is ``NotFound`` → 404 page); sign-in uses :mod:`api.deps`' session cookie (HttpOnly, SameSite).
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api import deps
from api.web import words
from api.web.diff import mark_differences
from reconcile import auth, queues, workflow
from reconcile.errors import Forbidden, NotFound, ReconcileError

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

LOGIN_CSRF_COOKIE = "reconcile_login_csrf"
PAGE_SIZE = 50


# ---------------------------------------------------------------- rendering

def _wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """The page, or its context as JSON (``?format=json``): one context for both."""
    if _wants_json(request):
        public = {k: v for k, v in context.items() if k not in ("csrf", "t")}
        return JSONResponse(jsonable_encoder(public), status_code=status_code)
    lang = context.get("lang", "ja")
    base = {"request": request, "t": words.TEXT[lang], "lang": lang, "csrf": deps.csrf_token(request),
            "user": getattr(request.state, "actor", None)}
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def _error_page(request: Request, lang: str, status: int, message: str) -> Response:
    return render(request, "error.html", {"lang": lang, "status": status, "message": message}, status_code=status)


def _signed_in(request: Request, db) -> auth.Actor | None:
    return deps.web_user(request, db)


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def _check_form(request: Request, token: str | None, lang: str) -> Response | None:
    if not deps.check_csrf(request, token):
        return _error_page(request, lang, 403, words.TEXT[lang]["csrf_failed"])
    return None


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/queues"


# ---------------------------------------------------------------- sign-in

@router.get("/login")
def login_page(request: Request, db: deps.DbSession, lang: deps.Lang, next: str | None = None,
               error: str | None = None):
    if _signed_in(request, db) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, lang, next=next, error=error)


def _login_form(request: Request, lang: str, *, next: str | None = None, error: str | None = None,
                status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"lang": lang, "login_csrf": token, "next": _safe_next(next),
                                              "error": error}, status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True, samesite="strict", path="/login",
                        secure=request.url.scheme == "https")
    return response


@router.post("/login")
def login(request: Request, db: deps.DbSession, lang: deps.Lang, username: str = Form(""), password: str = Form(""),
          csrf: str = Form(""), next: str = Form("/queues")):
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    t = words.TEXT[lang]
    if not expected or not csrf or not hmac.compare_digest(expected, csrf):
        return _login_form(request, lang, next=next, error=t["csrf_failed"], status_code=403)
    actor = auth.authenticate_password(db, username.strip(), password) if username.strip() else None
    if actor is None and password:
        by_token = auth.authenticate_token(db, password)
        actor = by_token if by_token is not None and (not username.strip() or by_token.name == username.strip()) else None
    if actor is None:
        return _login_form(request, lang, next=next, error=t["login_failed"], status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    deps.start_session(request, response, actor)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, lang: deps.Lang, csrf: str = Form("")):
    refused = _check_form(request, csrf, lang)
    if refused:
        return refused
    response = RedirectResponse("/login", status_code=303)
    deps.end_session(response)
    return response


@router.get("/")
def home(request: Request, db: deps.DbSession, lang: deps.Lang):
    if _signed_in(request, db) is None:
        return _login_form(request, lang)
    return RedirectResponse("/queues", status_code=303)


# ---------------------------------------------------------------- queues

def queues_context(db, actor: auth.Actor, lang: str, message: str | None = None) -> dict[str, Any]:
    """Queue overview: open, in progress, overdue, oldest open item per queue (the user's insurers)."""
    overview = workflow.queue_overview(db, actor, lang=lang)
    rows = [q for q in overview if q["open"] or q["in_progress"] or q["name"] in ("mislink", "notation")]
    totals = {k: sum(q[k] for q in overview) for k in ("open", "in_progress", "overdue")}
    return {"lang": lang, "queues": rows, "totals": totals, "message": message,
            "may_work": actor.may(auth.WORK), "may_supervise": actor.may(auth.SUPERVISE)}


@router.get("/queues")
def queues_page(request: Request, db: deps.DbSession, lang: deps.Lang, message: str | None = None):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    text = words.TEXT[lang].get(f"msg_{message}") if message else None
    return render(request, "queues.html", queues_context(db, actor, lang, text))


STATUS_FILTERS = {"active": list(queues.ACTIVE), "open": ["open"], "in_progress": ["in_progress"],
                  "mine": list(queues.ACTIVE), "closed": [*queues.RESOLUTIONS, "closed_not_seen"]}


def queue_context(db, actor: auth.Actor, queue: str, lang: str, *, status: str = "active",
                  severity: str | None = None, rule_id: str | None = None, q: str | None = None,
                  cursor: str | None = None) -> dict[str, Any]:
    """One queue's items with filters (status, severity, rule) and a search by member id."""
    if queue not in queues.QUEUES:
        raise NotFound(f"キュー {queue} はありません", f"no queue {queue}")
    status = status if status in STATUS_FILTERS else "active"
    filters = workflow.Filters(queue=[queue], status=STATUS_FILTERS[status],
                               severity=[severity] if severity else None, rule_id=[rule_id] if rule_id else None,
                               member_id=[q.strip()] if q and q.strip() else None,
                               assignee=[actor.name] if status == "mine" else None)
    page = workflow.list_work_items(db, actor, filters, sort="priority", limit=PAGE_SIZE, cursor=cursor, lang=lang)
    overview = {o["name"]: o for o in workflow.queue_overview(db, actor, lang=lang)}
    now = datetime.now(timezone.utc)
    items = []
    for item in page.items:
        due = item.get("due_at")
        items.append({**item, "rule_label": words.rule_label(item["rule_id"], lang),
                      "severity_label": words.severity_label(item["severity"], lang),
                      "overdue": bool(due and due < now and item["status"] in queues.ACTIVE),
                      "due_on": words.day(due), "created_on": words.day(item.get("created_at"))})
    return {"lang": lang, "queue": queue, "queue_label": overview[queue]["label"], "counts": overview[queue],
            "items": items, "next_cursor": page.next_cursor,
            "filters": {"status": status, "severity": severity or "", "rule_id": rule_id or "", "q": q or ""},
            "rules": [(r, words.rule_label(r, lang)) for r in words.rules_of_queue(queue)],
            "status_options": [(k, words.TEXT[lang][f"filter_{k}"]) for k in STATUS_FILTERS],
            "severity_options": [(s, words.severity_label(s, lang)) for s in ("high", "medium", "low", "info")],
            "may_work": actor.may(auth.WORK)}


@router.get("/queues/{queue}")
def queue_page(queue: str, request: Request, db: deps.DbSession, lang: deps.Lang, status: str = "active",
               severity: str | None = None, rule_id: str | None = None, q: str | None = None,
               cursor: str | None = None):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    try:
        context = queue_context(db, actor, queue, lang, status=status, severity=severity, rule_id=rule_id, q=q,
                                cursor=cursor)
    except NotFound as exc:
        return _error_page(request, lang, 404, exc.text(lang))
    except ReconcileError as exc:
        return _error_page(request, lang, exc.http_status, exc.text(lang))
    return render(request, "queue.html", context)


@router.post("/queues/{queue}/next")
def next_item(queue: str, request: Request, db: deps.DbSession, lang: deps.Lang, csrf: str = Form("")):
    """次の項目へ: claim the queue's next open item and show it."""
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    refused = _check_form(request, csrf, lang)
    if refused:
        return refused
    try:
        item = workflow.claim_next(db, actor, queue, lease=request.app.state.lease_minutes, lang=lang)
    except ReconcileError as exc:
        return _error_page(request, lang, exc.http_status, exc.text(lang))
    if item is None:
        return RedirectResponse(f"/queues?{urlencode({'message': 'queue_empty'})}", status_code=303)
    return RedirectResponse(f"/items/{item['id']}", status_code=303)


# ---------------------------------------------------------------- one item

def item_context(db, actor: auth.Actor, item_id: int, lang: str) -> dict[str, Any]:
    """One item: member vs resident side by side with the differing characters marked, the notation
    reason and the suggested resident in words, history, comments, and what the user may do."""
    item = workflow.get_work_item(db, actor, item_id, lang=lang)
    evidence = item.get("evidence") or {}
    member, resident = item.get("member") or {}, item.get("resident") or {}
    comparison = (resident or {}).get("comparison") or {}
    rows = []
    for field in words.SIDE_FIELDS:
        if field not in member and field not in (resident or {}):
            continue
        left, right = member.get(field), (resident or {}).get(field)
        if left in (None, "") and right in (None, ""):
            continue
        marked_left, marked_right = mark_differences(words.shown(left), words.shown(right))
        level = (comparison.get(field) or {}).get("level")
        rows.append({"field": field, "label": words.field_label(field, lang), "member": marked_left,
                     "resident": marked_right, "same": words.shown(left) == words.shown(right),
                     "comparison": words.comparison_words((comparison.get(field) or {}).get("label"), lang),
                     "level": level})
    suggested = words.suggested_in_words(evidence, item.get("suggested_resident") or {}, lang)
    now = datetime.now(timezone.utc)
    held_by_other = (item["status"] == "in_progress" and item.get("assignee") not in (None, actor.name)
                     and (item.get("lease_until") is None or item["lease_until"] > now))
    may_resolve = (actor.may(auth.WORK) and item["status"] in queues.RESOLVABLE
                   and (not held_by_other or actor.may(auth.SUPERVISE)))
    history = [{"at": words.moment(e["at"]), "actor": e["actor"], "action": words.action_label(e["action"], lang),
                "from": words.status_label(e.get("from_status"), lang) if e.get("from_status") else "",
                "to": words.status_label(e.get("to_status"), lang) if e.get("to_status") else "",
                "note": e.get("note") or ""} for e in item.get("history", [])]
    return {
        "lang": lang, "item": {k: item[k] for k in ("id", "finding_id", "insurer_number", "member_id", "rule_id",
                                                    "category", "severity", "score", "summary", "queue", "status",
                                                    "assignee", "due_at", "created_at")},
        "queue_label": item.get("queue_label"), "status_label": item.get("status_label"),
        "rule_label": words.rule_label(item["rule_id"], lang), "severity_label": words.severity_label(item["severity"], lang),
        "probability": words.percent(item.get("score")) if item["category"] == "mislink" else None,
        "member_ref": words.member_ref(member, lang), "resident_ref": words.resident_ref(resident, lang),
        "rows": rows, "reasons": words.notation_reasons(evidence, lang), "pattern": words.pattern(evidence, lang),
        "partner": evidence.get("partner_member_id") or evidence.get("other_members"),
        "partner_items": _partner_items(db, actor, item, evidence, lang),
        "suggested": suggested, "next_step": words.next_step(item, evidence, lang),
        "history": history, "comments": [{**c, "at": words.moment(c["at"])} for c in item.get("comments", [])],
        "resolutions": [(r, words.status_label(r, lang), words.TEXT[lang][f"resolution_help_{r}"], key)
                        for key, r in zip("123", queues.RESOLUTIONS)],
        "may_resolve": may_resolve, "held_by_other": held_by_other,
        "may_release": item["status"] == "in_progress" and (item.get("assignee") == actor.name or actor.may(auth.SUPERVISE)),
        "due_on": words.day(item.get("due_at")),
    }


def _partner_items(db, actor: auth.Actor, item: dict, evidence: dict, lang: str) -> list[dict]:
    """The other half of a household swap or shared number: its work items, to open side by side."""
    raw = evidence.get("partner_member_id") or evidence.get("other_members") or ""
    names = [p.split(":", 1)[-1].strip() for p in str(raw).replace("、", ",").split(",") if p.strip()]
    if not names:
        return []
    page = workflow.list_work_items(db, actor, workflow.Filters(insurer_number=[item["insurer_number"]],
                                                                member_id=names, category=["mislink"]),
                                    limit=10, lang=lang)
    return [{"id": i["id"], "member_id": i["member_id"], "rule_label": words.rule_label(i["rule_id"], lang),
             "status_label": i["status_label"]} for i in page.items if i["id"] != item["id"]]


@router.get("/items/{item_id}")
def item_page(item_id: int, request: Request, db: deps.DbSession, lang: deps.Lang, message: str | None = None):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    try:
        context = item_context(db, actor, item_id, lang)
    except NotFound as exc:
        return _error_page(request, lang, 404, exc.text(lang))
    context["message"] = words.TEXT[lang].get(f"msg_{message}") if message else None
    return render(request, "item.html", context)


@router.post("/items/{item_id}/resolve")
def resolve_item(item_id: int, request: Request, db: deps.DbSession, lang: deps.Lang, csrf: str = Form(""),
                 resolution: str = Form(""), note: str = Form(""), then: str = Form("next")):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    refused = _check_form(request, csrf, lang)
    if refused:
        return refused
    try:
        item = workflow.resolve(db, actor, item_id, resolution, note, lang=lang)
    except NotFound as exc:
        return _error_page(request, lang, 404, exc.text(lang))
    except ReconcileError as exc:
        db.rollback()
        context = item_context(db, actor, item_id, lang)
        context["error"] = exc.text(lang)
        context["note"] = note
        return render(request, "item.html", context, status_code=exc.http_status)
    if then == "next" and actor.may(auth.WORK):
        following = workflow.claim_next(db, actor, item["queue"], lease=request.app.state.lease_minutes, lang=lang)
        if following is not None:
            return RedirectResponse(f"/items/{following['id']}?message=resolved", status_code=303)
        return RedirectResponse(f"/queues?{urlencode({'message': 'queue_done'})}", status_code=303)
    return RedirectResponse(f"/queues/{item['queue']}?message=resolved", status_code=303)


@router.post("/items/{item_id}/comment")
def comment_item(item_id: int, request: Request, db: deps.DbSession, lang: deps.Lang, csrf: str = Form(""),
                 text: str = Form("")):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    refused = _check_form(request, csrf, lang)
    if refused:
        return refused
    try:
        workflow.add_comment(db, actor, item_id, text)
    except NotFound as exc:
        return _error_page(request, lang, 404, exc.text(lang))
    except ReconcileError as exc:
        return _error_page(request, lang, exc.http_status, exc.text(lang))
    return RedirectResponse(f"/items/{item_id}?message=commented", status_code=303)


@router.post("/items/{item_id}/release")
def release_item(item_id: int, request: Request, db: deps.DbSession, lang: deps.Lang, csrf: str = Form("")):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    refused = _check_form(request, csrf, lang)
    if refused:
        return refused
    try:
        item = workflow.release(db, actor, item_id, lang=lang)
    except NotFound as exc:
        return _error_page(request, lang, 404, exc.text(lang))
    except ReconcileError as exc:
        return _error_page(request, lang, exc.http_status, exc.text(lang))
    return RedirectResponse(f"/queues/{item['queue']}?message=released", status_code=303)


# ---------------------------------------------------------------- supervisor dashboard

def dashboard_context(db, actor: auth.Actor, lang: str) -> dict[str, Any]:
    """Backlog by queue and age, throughput per week, service-level breaches — the weekly report's
    figures (reports.counts) for the user's insurers, this week."""
    import base64

    import pandas as pd

    from reconcile import exports
    from reconcile.errors import ReconcileError as _Error
    from reports.weekly import iso_week, queue_label

    if not actor.may(auth.SUPERVISE):
        raise Forbidden("ダッシュボードは監督者・管理者のみ閲覧できます", "the dashboard is for supervisors and admins")
    now = pd.Timestamp.now(tz="UTC")
    week = iso_week(now.tz_convert("Asia/Tokyo"))
    try:
        report = exports.weekly_context(db, week=week, lang=lang, now=now, insurer_numbers=actor.insurers)
    except _Error:
        return {"lang": lang, "week": week, "empty": True}
    ageing = [{"queue": queue_label(report, r["queue"]), **{k: int(v) for k, v in r.items() if k != "queue"}}
              for r in report.ageing.to_dict("records")]
    sla = [{"queue": queue_label(report, r["queue"]), "open": int(r["open"]), "overdue": int(r["overdue"]),
            "oldest_overdue_days": None if pd.isna(r["oldest_overdue_days"]) else int(r["oldest_overdue_days"]),
            "due_next_7_days": int(r["due_next_7_days"])} for r in report.sla.to_dict("records")]
    trend = [{k: (None if pd.isna(v) else (int(v) if k != "week" else v)) for k, v in r.items()}
             for r in report.trend.to_dict("records")]
    charts = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
              for name, png in report.charts.items() if name in ("chart_backlog_ageing.png", "chart_trend.png")}
    return {"lang": lang, "week": week, "empty": False, "figures": report.figures, "ageing": ageing, "sla": sla,
            "trend": trend, "charts": charts, "bands": [b for b in report.ageing.columns if b not in ("queue", "total")],
            "has_due_dates": report.has_due_dates}


@router.get("/dashboard")
def dashboard_page(request: Request, db: deps.DbSession, lang: deps.Lang):
    actor = _signed_in(request, db)
    if actor is None:
        return _to_login(request)
    try:
        context = dashboard_context(db, actor, lang)
    except Forbidden as exc:
        return _error_page(request, lang, 403, exc.text(lang))
    return render(request, "dashboard.html", context)
