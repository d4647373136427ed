"""GET /api/v1/audit — auditor, supervisor, admin."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, DbSession, PageCursor, PageLimit, in_worker
from api.schemas import AuditPage
from reconcile import workflow
from reconcile.errors import InvalidInput

router = APIRouter(tags=["audit"])

ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"


def _moment(text: str | None, name: str) -> datetime | None:
    """An ISO date or date-time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"{name} {text!r} は ISO 8601 の日時で指定してください", f"{name} {text!r}: use ISO 8601",
                           field=name, value=text) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@router.get("/audit", response_model=AuditPage)
async def list_audit(user: CurrentUser, db: DbSession,
               actor: Annotated[str | None, Query(max_length=128)] = None,
               action: Annotated[str | None, Query(max_length=32)] = None,
               work_item_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
               since: Annotated[str | None, Query(pattern=ISO_MOMENT, description="ISO 8601 date or date-time",
                                                  json_schema_extra={"format": "date-time"})] = None,
               until: Annotated[str | None, Query(pattern=ISO_MOMENT, description="ISO 8601 date or date-time",
                                                  json_schema_extra={"format": "date-time"})] = None,
               limit: PageLimit = 100,
               cursor: PageCursor = None):
    """監査証跡 / audit events (who, when, what, before / after), oldest first."""
    page = await in_worker(db, workflow.list_audit, db, user, actor_name=actor, action=action,
                           work_item_id=work_item_id, since=_moment(since, "since"), until=_moment(until, "until"),
                           limit=limit, cursor=cursor)
    return AuditPage(items=page.items, next_cursor=page.next_cursor)
