"""GET /api/v1/queues, POST /api/v1/queues/{queue}/claim."""
from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Request, Response

from api.deps import CurrentUser, DbSession, Lang, in_worker
from api.schemas import Queues, WorkItem
from reconcile import queues, workflow

router = APIRouter(tags=["queues"])

QueueName = Enum("QueueName", {name: name for name in queues.QUEUES}, type=str)


@router.get("/queues", response_model=Queues)
async def list_queues(user: CurrentUser, db: DbSession, lang: Lang):
    """キューの概況 / open, in progress, overdue and oldest open item per queue (the user's insurers)."""
    return Queues(items=await in_worker(db, workflow.queue_overview, db, user, lang=lang))


@router.post("/queues/{queue}/claim", response_model=WorkItem,
             responses={204: {"description": "the queue has no open item left"}})
async def claim_next(queue: QueueName, user: CurrentUser, db: DbSession, lang: Lang, request: Request):
    """次の項目を取る / the next open item (priority, then age) becomes in_progress, assigned to the caller."""
    item = await in_worker(db, workflow.claim_next, db, user, queue.value, lease=request.app.state.lease_minutes,
                           lang=lang)
    return item if item else Response(status_code=204)
