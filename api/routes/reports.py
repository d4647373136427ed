"""GET /api/v1/reports/weekly/{week}, GET /api/v1/exports/national — built by reconcile.service."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import CurrentUser, DbSession, Lang
from reconcile import auth, service, workflow

router = APIRouter(tags=["reports"])

WEEK = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/reports/weekly/{week}", responses={
    200: {"content": {"application/json": {}, "text/html": {}, "application/zip": {}},
          "description": "the weekly report: JSON tables, the HTML page, or a zip of its CSV tables"}})
def weekly_report(week: Annotated[str, PathParam(pattern=WEEK)], request: Request, user: CurrentUser,
                  db: DbSession, lang: Lang, format: Literal["json", "html", "csv"] = "json"):
    """週次報告 / the weekly report of ISO week YYYY-Www (JSON, ?format=html, ?format=csv)."""
    user.require(auth.READ)
    workflow.require_whole_store(db, user)
    with tempfile.TemporaryDirectory(prefix="weekly-") as tmp:
        files = service.weekly_report(week=week, out_dir=tmp, lang=lang, settings=request.app.state.settings)
        if format == "html":
            index = next((f for f in files if f.name == "index.html"), None)
            return HTMLResponse(index.read_text(encoding="utf-8") if index else "")
        tables = sorted(f for f in Path(tmp).rglob("*.csv"))
        if format == "csv":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                for table in tables:
                    zf.write(table, table.relative_to(tmp).as_posix())
            return Response(buffer.getvalue(), media_type="application/zip",
                            headers={"Content-Disposition": f'attachment; filename="weekly-{week}.zip"'})
        out = {}
        for table in tables:
            frame = pd.read_csv(table, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            out[table.relative_to(tmp).with_suffix("").as_posix()] = frame.to_dict(orient="records")
        return JSONResponse({"week": week, "tables": out})


@router.get("/exports/national", responses={200: {"content": {"text/csv": {}},
                                                  "description": "the national-reporting CSV"}})
def national_export(request: Request, user: CurrentUser, db: DbSession, lang: Lang,
                    period: Annotated[str, Query(pattern=PERIOD, description="feed reporting month YYYY-MM")],
                    encoding: Literal["utf-8-sig", "utf-8", "cp932"] = "utf-8-sig"):
    """全国報告用 CSV / the national-reporting export of one month."""
    user.require(auth.READ)
    workflow.require_whole_store(db, user)
    with tempfile.TemporaryDirectory(prefix="national-") as tmp:
        target = Path(tmp) / f"national-{period}.csv"
        service.export_national(target, period=period, lang=lang, encoding=encoding,
                                settings=request.app.state.settings)
        body = target.read_bytes()
    charset = "shift_jis" if encoding == "cp932" else "utf-8"
    return Response(body, media_type=f"text/csv; charset={charset}",
                    headers={"Content-Disposition": f'attachment; filename="national-{period}.csv"'})
