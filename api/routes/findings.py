"""GET /api/v1/findings, /api/v1/findings/{finding_id}."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, DbSession, Lang, PageCursor, PageLimit, in_worker
from api.routes.common import ListFilters
from api.schemas import FindingDetail, FindingPage
from reconcile import workflow

router = APIRouter(tags=["findings"])

FindingSort = Annotated[str, Query(description="one of " + ", ".join(workflow.FINDING_SORTS),
                                   pattern="^(" + "|".join(workflow.FINDING_SORTS) + ")$")]


@router.get("/findings", response_model=FindingPage)
async def list_findings(user: CurrentUser, db: DbSession, lang: Lang, filters: ListFilters,
                        sort: FindingSort = "severity",
                        limit: PageLimit = 100,
                        cursor: PageCursor = None):
    """指摘の一覧 / findings of the user's insurers, filtered, cursor-paged."""
    page = await in_worker(db, workflow.list_findings, db, user, filters, sort=sort, limit=limit, cursor=cursor,
                           lang=lang)
    return FindingPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/findings/{finding_id}", response_model=FindingDetail)
async def get_finding(finding_id: str, user: CurrentUser, db: DbSession, lang: Lang):
    """指摘の詳細（根拠つき）/ one finding with its evidence (an audited read)."""
    return await in_worker(db, workflow.get_finding, db, user, finding_id, lang=lang)
