"""Request and response models of the JSON API (contract api.md).

Every individual number in a response is its last four digits only; the models carry none
beyond ``*_last4`` fields, and :mod:`reconcile.workflow` masks 12-digit runs in free text.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Resolution = Literal["resolved_fixed", "resolved_false_positive", "resolved_wont_fix"]
Status = Literal["open", "in_progress", "resolved_fixed", "resolved_false_positive", "resolved_wont_fix",
                 "closed_not_seen"]
Severity = Literal["high", "medium", "low", "info"]


class Problem(BaseModel):
    """application/problem+json (RFC 9457)."""
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    value: Any = None
    errors: list[dict[str, Any]] | None = None


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: str
    database: str


class WorkItem(BaseModel):
    id: int
    finding_id: str
    insurer_number: str | None
    member_id: str | None
    rule_id: str
    category: str
    severity: str
    score: float | None
    summary: str | None
    queue: str
    queue_label: str
    status: str
    status_label: str
    assignee: str | None
    priority: int
    due_at: datetime | None
    lease_until: datetime | None
    not_seen_since_scan: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    first_seen_scan: int
    last_seen_scan: int
    previous_finding_id: str | None


class AuditEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    work_item_id: int | None
    subject: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    scan_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class CommentOut(BaseModel):
    id: int
    work_item_id: int | None = None
    at: datetime
    author: str
    text: str


class WorkItemDetail(WorkItem):
    evidence: dict[str, Any]
    member: dict[str, Any]
    resident: dict[str, Any] | None
    suggested_resident: dict[str, Any] | None
    history: list[AuditEvent]
    comments: list[CommentOut]


class WorkItemPage(BaseModel):
    items: list[WorkItem]
    next_cursor: str | None


class Finding(BaseModel):
    finding_id: str
    insurer_number: str | None
    member_id: str | None
    rule_id: str
    category: str
    severity: str
    score: float | None
    summary: str | None
    suggested_resident_id: str | None
    suggested_individual_number_last4: str | None
    first_seen_scan: int
    last_seen_scan: int
    work_item_id: int | None
    queue: str | None
    status: str | None


class FindingDetail(Finding):
    evidence: dict[str, Any]


class FindingPage(BaseModel):
    items: list[Finding]
    next_cursor: str | None


class QueueSummary(BaseModel):
    name: str
    label: str
    open: int
    in_progress: int
    overdue: int
    oldest_open_days: int | None


class Queues(BaseModel):
    items: list[QueueSummary]


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None


class Scan(BaseModel):
    scan_id: int | str
    status: str
    as_of: str | None = None
    period: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    insurer_numbers: list[str] = []
    summary: dict[str, Any] | None = None
    stage_seconds: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    quarantine_count: int | None = None
    findings: int | None = None
    # uploads (scan_id "upload-N"): the scan it became, the files received, why it was rejected
    result_scan_id: int | None = None
    files: list[str] | None = None
    message: dict[str, str] | None = None
    created_at: datetime | None = None


class ScanPage(BaseModel):
    items: list[Scan]
    next_cursor: str | None


class ScanAccepted(BaseModel):
    scan_id: str
    status: str


class ResolveRequest(Request):
    resolution: Resolution
    note: str = Field(min_length=1, max_length=10_000)


class AssignRequest(Request):
    user: str = Field(min_length=1, max_length=128)


class ReopenRequest(Request):
    note: str | None = Field(default=None, max_length=10_000)


class CommentRequest(Request):
    text: str = Field(min_length=1, max_length=10_000)


class BulkResolveRequest(Request):
    ids: list[Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=1000)
    resolution: Resolution
    note: str = Field(min_length=1, max_length=10_000)


class BulkItemResult(BaseModel):
    id: int
    status: Literal["done", "refused"]
    reason: str | None = None
    reason_ja: str | None = None


class BulkResult(BaseModel):
    done: int
    refused: int
    results: list[BulkItemResult]
