"""GET /api/v1/reports/weekly/{week}, GET /api/v1/exports/national — for the user's insurers only.

An insurer-scoped user (steward, supervisor, auditor) gets the report and the export of their own
insurers — nothing of another insurer, not even its name; an admin gets every insurer.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, DbSession, Lang, in_worker
from reconcile import auth, exports, service
from reconcile.auth import Actor

router = APIRouter(tags=["reports"])

WEEK = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/reports/weekly/{week}", responses={
    200: {"content": {"application/json": {}, "text/html": {}, "application/zip": {}},
          "description": "the weekly report: JSON (its figures and tables), the HTML page, or a zip of its CSV tables"},
    404: {"description": "no scan of the user's insurers yet"}})
async def weekly_report(week: Annotated[str, PathParam(pattern=WEEK)], user: CurrentUser, db: DbSession, lang: Lang,
                        format: Literal["json", "html", "csv"] = "json"):
    """週次報告 / the weekly report of ISO week YYYY-Www (JSON, ?format=html, ?format=csv).

    Built for the user's insurers only (an admin: every insurer); the same context serves all three.
    """
    user.require(auth.READ)
    return await in_worker(db, _weekly, db, user, service.parse_week(week), lang, format)


def _weekly(db: Session, user: Actor, week: str, lang: str, format: str) -> Response:
    """Build the report and its response in the worker thread (pandas and Jinja2 are CPU work)."""
    from reports import weekly   # imported on first use: it brings matplotlib, which serve need not load

    report = exports.weekly_context(db, week=week, lang=lang, with_charts=format == "html",
                                    insurer_numbers=user.insurers)
    if format == "html":
        return HTMLResponse(weekly.weekly_files(report)["index.html"].decode("utf-8"))
    if format == "csv":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in sorted(weekly.weekly_files(report, html=False).items()):
                if name.endswith(".csv"):
                    zf.writestr(name, content)
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="weekly-{week}.zip"'})
    return JSONResponse(weekly.weekly_json(report))


@router.get("/exports/national", responses={200: {"content": {"text/csv": {}},
                                                  "description": "the national-reporting CSV"}})
async def national_export(request: Request, user: CurrentUser, lang: Lang,
                          period: Annotated[str, Query(pattern=PERIOD, description="feed reporting month YYYY-MM")],
                          encoding: Literal["utf-8-sig", "utf-8", "cp932"] = "utf-8-sig"):
    """全国報告用 CSV / the national-reporting export of one month (the user's insurers only)."""
    user.require(auth.READ)
    body = await run_in_threadpool(_national, request.app.state.settings, user, period, lang, encoding)
    charset = "shift_jis" if encoding == "cp932" else "utf-8"
    return Response(body, media_type=f"text/csv; charset={charset}",
                    headers={"Content-Disposition": f'attachment; filename="national-{period}.csv"'})


def _national(settings, user: Actor, period: str, lang: str, encoding: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="national-") as tmp:
        target = Path(tmp) / f"national-{period}.csv"
        service.export_national(target, period=period, lang=lang, encoding=encoding, settings=settings,
                                insurer_numbers=user.insurers)
        return target.read_bytes()
