"""GET/POST /api/v1/scans, GET /api/v1/scans/{scan_id}."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, UploadFile

from api.deps import CurrentUser, DbSession, PageCursor, PageLimit, in_worker
from api.schemas import Scan, ScanAccepted, ScanPage
from api.uploads import unpack
from reconcile import auth, workflow
from reconcile.errors import NotFound

router = APIRouter(tags=["scans"])


@router.get("/scans", response_model=ScanPage)
async def list_scans(user: CurrentUser, db: DbSession,
                     limit: PageLimit = 100,
                     cursor: PageCursor = None):
    """走査の一覧（新しい順）/ scans of the user's insurers, newest first."""
    page = await in_worker(db, workflow.list_scans, db, user, limit=limit, cursor=cursor)
    return ScanPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/scans", response_model=ScanAccepted, status_code=202)
def upload_feed(request: Request, user: CurrentUser, db: DbSession,
                files: Annotated[list[UploadFile], File(description="the feed's files, or one .zip")]):
    """フィードを送って走査（監督者）/ upload a feed; it is scanned in the background — poll GET /scans/{scan_id}."""
    user.require(auth.SUPERVISE)
    folder, names = unpack([(f.filename, f.file) for f in files])
    accepted = workflow.create_upload(db, user, str(folder), names)
    db.commit()
    request.app.state.scanner.submit(workflow.upload_id_of(accepted["scan_id"]))
    return ScanAccepted(**accepted)


@router.get("/scans/{scan_id}", response_model=Scan)
async def get_scan(scan_id: Annotated[str, Path(max_length=40)], user: CurrentUser, db: DbSession):
    """走査の状態と結果 / status, summary, stage timings, validation, quarantine count."""
    upload_id = workflow.upload_id_of(scan_id)
    if upload_id is not None:
        return await in_worker(db, workflow.get_upload, db, user, upload_id)
    if not scan_id.isdigit() or len(scan_id) > 10:
        raise NotFound(f"走査 {scan_id} はありません", f"no scan {scan_id}", field="scan_id", value=scan_id)
    return await in_worker(db, workflow.get_scan, db, user, int(scan_id))
