"""GET /api/v1/health — no token."""
from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request):
    """稼働確認 / liveness and database reachability."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any database failure is "unavailable", said without details
        return JSONResponse({"status": "degraded", "database": "unavailable"}, status_code=503)
    return Health(status="ok", database="ok")
