"""GET /api/v1/audit — auditor, supervisor, admin."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, DbSession
from api.schemas import AuditPage
from reconcile import workflow

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage)
def list_audit(user: CurrentUser, db: DbSession,
               actor: Annotated[str | None, Query(max_length=128)] = None,
               action: Annotated[str | None, Query(max_length=32)] = None,
               work_item_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
               since: datetime | None = None, until: datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=workflow.MAX_LIMIT)] = 100,
               cursor: Annotated[str | None, Query(max_length=200)] = None):
    """監査証跡 / audit events (who, when, what, before / after), oldest first."""
    page = workflow.list_audit(db, user, actor_name=actor, action=action, work_item_id=work_item_id,
                               since=since, until=until, limit=limit, cursor=cursor)
    return AuditPage(items=page.items, next_cursor=page.next_cursor)
