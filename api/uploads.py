"""Feeds posted to ``POST /api/v1/scans``: unpacked to a private folder, scanned in the background.

One worker thread per server process scans uploads one after another (a scan is CPU-bound; the
store serialises scans of one insurer anyway). Status lives in the ``uploads`` table — queued →
running → done | rejected | failed — so any process can answer ``GET /api/v1/scans/upload-N``.

Before scanning, the feed's insurers are read from ``members.csv``: a supervisor may only scan
feeds of their own insurers (anything else is rejected, nothing stored changes).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import pandas as pd
from sqlalchemy.orm import Session

from reconcile import workflow
from reconcile.errors import InvalidInput, ReconcileError

log = logging.getLogger("reconcile.api.uploads")

MAX_UPLOAD_BYTES = 2 * 1024 ** 3        # a 1M-member feed is well under this
ALLOWED_SUFFIXES = (".csv", ".json", ".txt", ".tsv")


def upload_root() -> Path:
    root = Path(os.environ.get("RECONCILE_UPLOAD_DIR") or Path(tempfile.gettempdir()) / "reconcile-uploads")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _safe_name(name: str | None) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    if not base or base.startswith(".") or not base.lower().endswith(ALLOWED_SUFFIXES + (".zip",)):
        raise InvalidInput(f"ファイル名 {name!r} は受け付けません（フィードの .csv / manifest.json、または .zip 1つ）",
                           f"file name {name!r} not accepted (the feed's .csv files and manifest.json, or one .zip)",
                           field="files", value=name)
    return base


def unpack(files: list[tuple[str | None, object]]) -> tuple[Path, list[str]]:
    """Write the uploaded files (name, binary file object) into a fresh folder; one .zip is extracted."""
    if not files:
        raise InvalidInput("ファイルがありません", "no files uploaded", field="files")
    folder = Path(tempfile.mkdtemp(prefix="feed-", dir=upload_root()))
    names = [_safe_name(name) for name, _ in files]
    try:
        if len(names) == 1 and names[0].lower().endswith(".zip"):
            archive = folder / "_upload.zip"
            with archive.open("wb") as out:
                shutil.copyfileobj(files[0][1], out)
            written = _extract(archive, folder)
            archive.unlink()
            return folder, written
        if any(n.lower().endswith(".zip") for n in names):
            raise InvalidInput(".zip は1つだけ、他のファイルと混ぜずに送ってください",
                               "send one .zip on its own, not mixed with other files", field="files")
        if len(set(names)) != len(names):
            raise InvalidInput("同じ名前のファイルが複数あります", "the same file name was sent twice", field="files")
        total = 0
        for name, (_, handle) in zip(names, files):
            with (folder / name).open("wb") as out:
                shutil.copyfileobj(handle, out)
            total += (folder / name).stat().st_size
            if total > MAX_UPLOAD_BYTES:
                raise InvalidInput("アップロードが大きすぎます", "upload too large", field="files")
        return folder, names
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _extract(archive: Path, folder: Path) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_UPLOAD_BYTES:
                raise InvalidInput("zip の展開後の大きさが上限を超えます", "the zip unpacks to more than the limit",
                                   field="files")
            written = []
            for member in members:
                name = PurePosixPath(member.filename).name      # flatten: a feed is one folder
                if not name or name.startswith(".") or name.startswith("__MACOSX"):
                    continue
                name = _safe_name(name)
                if name in written:
                    raise InvalidInput(f"zip に {name} が複数あります", f"the zip holds {name} twice", field="files")
                with zf.open(member) as src, (folder / name).open("wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(name)
    except zipfile.BadZipFile:
        raise InvalidInput("zip ファイルとして読めません", "not a readable zip file", field="files") from None
    if not written:
        raise InvalidInput("zip にフィードのファイルがありません", "the zip holds no feed files", field="files")
    return written


def feed_insurers(folder: Path) -> list[str]:
    """The insurer numbers in ``members.csv`` (read as text in the encodings feeds come in)."""
    path = folder / "members.csv"
    if not path.exists():
        return []
    for encoding in ("utf-8-sig", "cp932", "euc_jp"):
        try:
            column = pd.read_csv(path, usecols=["insurer_number"], dtype=str, encoding=encoding,
                                 keep_default_na=False)["insurer_number"]
            return sorted({v.strip() for v in column if v and v.strip()})
        except (UnicodeDecodeError, ValueError):
            continue
    return []


class Scanner:
    """The background scans of one server process."""

    def __init__(self, engine, settings, on_finished=None):
        self.engine = engine
        self.settings = settings
        self.on_finished = on_finished     # called with the final status (metrics)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-scan")

    def submit(self, upload_id: int) -> None:
        self.pool.submit(self.run, upload_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _mark(self, upload_id: int, status: str, **kwargs) -> None:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            workflow.mark_upload(session, upload_id, status, **kwargs)
        if status != workflow.UPLOAD_RUNNING and self.on_finished is not None:
            self.on_finished(status)

    def run(self, upload_id: int) -> None:
        from reconcile import service

        with Session(self.engine) as session:
            path, scope = workflow.upload_scope(session, upload_id)
        if path is None:
            return
        try:
            insurers = feed_insurers(Path(path))
            self._mark(upload_id, workflow.UPLOAD_RUNNING, insurer_numbers=insurers)
            outside = [] if scope is None else [i for i in insurers if i not in scope]
            if outside:
                self._mark(upload_id, workflow.UPLOAD_REJECTED, message={
                    "ja": f"担当外の保険者のフィードは走査できません: {', '.join(outside)}",
                    "en": f"the feed holds insurers outside your scope: {', '.join(outside)}"})
                return
            summary = service.scan(path, settings=self.settings)
            self._mark(upload_id, workflow.UPLOAD_DONE, scan_id=summary.scan_id)
        except ReconcileError as exc:
            status = workflow.UPLOAD_FAILED if exc.exit_code == 1 else workflow.UPLOAD_REJECTED
            self._mark(upload_id, status, message={"ja": exc.text("ja"), "en": exc.text("en")})
        except Exception as exc:  # noqa: BLE001 — recorded as failed, with the class of error only
            log.exception("upload %s: scan failed", upload_id)
            self._mark(upload_id, workflow.UPLOAD_FAILED, message={
                "ja": f"内部エラーで走査できませんでした ({type(exc).__name__})",
                "en": f"the scan failed with an internal error ({type(exc).__name__})"})
