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

from api.deps import CurrentUser, DbSession, Lang
from reconcile import auth, exports, service
from reports import weekly

router = APIRouter(tags=["reports"])

WEEK = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/reports/weekly/{week}", responses={
    200: {"content": {"application/json": {}, "text/html": {}, "application/zip": {}},
          "description": "the weekly report: JSON (its figures and tables), the HTML page, or a zip of its CSV tables"},
    404: {"description": "no scan of the user's insurers yet"}})
def weekly_report(week: Annotated[str, PathParam(pattern=WEEK)], user: CurrentUser, db: DbSession, lang: Lang,
                  format: Literal["json", "html", "csv"] = "json"):
    """週次報告 / the weekly report of ISO week YYYY-Www (JSON, ?format=html, ?format=csv).

    Built for the user's insurers only (an admin: every insurer); the same context serves all three.
    """
    user.require(auth.READ)
    report = exports.weekly_context(db, week=service.parse_week(week), lang=lang, with_charts=format == "html",
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
def national_export(request: Request, user: CurrentUser, db: DbSession, lang: Lang,
                    period: Annotated[str, Query(pattern=PERIOD, description="feed reporting month YYYY-MM")],
                    encoding: Literal["utf-8-sig", "utf-8", "cp932"] = "utf-8-sig"):
    """全国報告用 CSV / the national-reporting export of one month."""
    user.require(auth.READ)
    with tempfile.TemporaryDirectory(prefix="national-") as tmp:
        target = Path(tmp) / f"national-{period}.csv"
        service.export_national(target, period=period, lang=lang, encoding=encoding,
                                settings=request.app.state.settings, insurer_numbers=user.insurers)
        body = target.read_bytes()
    charset = "shift_jis" if encoding == "cp932" else "utf-8"
    return Response(body, media_type=f"text/csv; charset={charset}",
                    headers={"Content-Disposition": f'attachment; filename="national-{period}.csv"'})
