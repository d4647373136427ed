"""GET /api/v1/work-items[/{id}], POST …/resolve, /release, /assign, /reopen, /comments, /bulk-resolve."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from api.deps import CurrentUser, DbSession, Lang, PageCursor, PageLimit, in_worker
from api.routes.common import ItemFilters
from api.schemas import (AssignRequest, BulkResolveRequest, BulkResult, CommentOut, CommentRequest, ReopenRequest,
                         ResolveRequest, WorkItem, WorkItemDetail, WorkItemPage)
from reconcile import workflow

router = APIRouter(tags=["work items"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ItemSort = Annotated[str, Query(description="one of " + ", ".join(workflow.ITEM_SORTS),
                                pattern="^(" + "|".join(workflow.ITEM_SORTS) + ")$")]


@router.get("/work-items", response_model=WorkItemPage)
async def list_work_items(user: CurrentUser, db: DbSession, lang: Lang, filters: ItemFilters,
                          sort: ItemSort = "priority",
                          limit: PageLimit = 100,
                          cursor: PageCursor = None):
    """作業項目の一覧 / work items of the user's insurers, filtered, cursor-paged."""
    page = await in_worker(db, workflow.list_work_items, db, user, filters, sort=sort, limit=limit, cursor=cursor,
                           lang=lang)
    return WorkItemPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/work-items/bulk-resolve", response_model=BulkResult)
async def bulk_resolve(body: BulkResolveRequest, user: CurrentUser, db: DbSession):
    """一括解決（監督者）/ resolve many items at once; counts done / refused."""
    result = await in_worker(db, workflow.bulk_resolve, db, user, body.ids, body.resolution, body.note)
    return BulkResult(done=result.done, refused=result.refused, results=result.results)


@router.get("/work-items/{item_id}", response_model=WorkItemDetail)
async def get_work_item(item_id: ItemId, user: CurrentUser, db: DbSession, lang: Lang):
    """作業項目の詳細 / item, finding, evidence, member vs resident, history, comments (an audited read)."""
    return await in_worker(db, workflow.get_work_item, db, user, item_id, lang=lang)


@router.post("/work-items/{item_id}/resolve", response_model=WorkItem)
async def resolve(item_id: ItemId, body: ResolveRequest, user: CurrentUser, db: DbSession, lang: Lang):
    """解決 / resolved_fixed, resolved_false_positive or resolved_wont_fix, with a note."""
    return await in_worker(db, workflow.resolve, db, user, item_id, body.resolution, body.note, lang=lang)


@router.post("/work-items/{item_id}/release", response_model=WorkItem)
async def release(item_id: ItemId, user: CurrentUser, db: DbSession, lang: Lang):
    """手放す / back to open, unassigned."""
    return await in_worker(db, workflow.release, db, user, item_id, lang=lang)


@router.post("/work-items/{item_id}/assign", response_model=WorkItem)
async def assign(item_id: ItemId, body: AssignRequest, user: CurrentUser, db: DbSession, lang: Lang):
    """割当（監督者）/ assign or reassign to a user."""
    return await in_worker(db, workflow.assign, db, user, item_id, body.user, lang=lang)


@router.post("/work-items/{item_id}/reopen", response_model=WorkItem)
async def reopen(item_id: ItemId, user: CurrentUser, db: DbSession, lang: Lang,
                 body: Annotated[ReopenRequest | None, Body()] = None):
    """再オープン（監督者）/ a resolved or no-longer-detected item back to open."""
    return await in_worker(db, workflow.reopen, db, user, item_id, body.note if body else None, lang=lang)


@router.post("/work-items/{item_id}/comments", response_model=CommentOut, status_code=201)
async def add_comment(item_id: ItemId, body: CommentRequest, user: CurrentUser, db: DbSession):
    """コメント / a comment on the item."""
    return await in_worker(db, workflow.add_comment, db, user, item_id, body.text)
