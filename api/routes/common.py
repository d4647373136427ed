"""Query parameters shared by the findings and work-item lists (async: no thread hop to build them)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from api.schemas import Severity, Status
from reconcile import workflow


async def _filters(rule_id: Annotated[list[str] | None, Query(max_length=50)] = None,
                   category: Annotated[list[str] | None, Query(max_length=50)] = None,
                   severity: Annotated[list[Severity] | None, Query(max_length=4)] = None,
                   queue: Annotated[list[str] | None, Query(max_length=50)] = None,
                   status: Annotated[list[Status] | None, Query(max_length=6)] = None,
                   insurer_number: Annotated[list[str] | None, Query(max_length=50)] = None,
                   member_id: Annotated[list[str] | None, Query(max_length=50)] = None,
                   scan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> workflow.Filters:
    return workflow.Filters(rule_id=rule_id, category=category, severity=severity, queue=queue, status=status,
                            insurer_number=insurer_number, member_id=member_id, scan_id=scan_id)


async def _item_filters(base: Annotated[workflow.Filters, Depends(_filters)],
                        assignee: Annotated[list[str] | None, Query(max_length=50)] = None) -> workflow.Filters:
    base.assignee = assignee
    return base


ListFilters = Annotated[workflow.Filters, Depends(_filters)]
ItemFilters = Annotated[workflow.Filters, Depends(_item_filters)]
