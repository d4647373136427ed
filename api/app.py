"""The FastAPI application: ``create_app(settings=None)`` (``reconcile serve`` runs it with uvicorn).

- JSON API under ``/api/v1`` (contract api.md), OpenAPI at ``/openapi.json``, ``/metrics``.
- Errors are ``application/problem+json`` (``type, title, status, detail``; ``detail`` names the
  field and value), mapped once here from :mod:`reconcile.errors`; validation errors are 422.
- One engine per app, migrations applied once when the app is made (``serve`` is a writing command).
- The web UI (``api/web``, reports engineer) mounts on the same app when present.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import CurrentUser, NotAuthenticated
from api.metrics import Metrics, MetricsMiddleware
from reconcile import auth
from reconcile.errors import ReconcileError
from reconcile.privacy import mask_number

log = logging.getLogger("reconcile.api")

PROBLEM = "application/problem+json"
API_PREFIX = "/api/v1"

_SLUGS = {400: "bad-request", 401: "not-authenticated", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 409: "conflict", 413: "too-large", 422: "invalid-input",
          500: "internal-error", 503: "unavailable"}


def problem(status: int, title: str, detail: str, *, field: str | None = None, value: Any = None,
            errors: list | None = None, headers: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{_SLUGS.get(status, 'error')}", "title": title, "status": status,
                            "detail": mask_number(detail)}
    if field is not None:
        body["field"] = field
    if value is not None:
        masked = mask_number(str(value))
        body["value"] = value if isinstance(value, (int, float, bool)) and masked == str(value) else masked
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc) -> str:
    parts = [str(p) for p in loc]
    where = parts[0] if parts else "request"
    name = ".".join(parts[1:]) or where
    return f"{where} {name}" if where in ("query", "path", "body", "header", "cookie") else name


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ReconcileError)
    async def reconcile_error(request: Request, exc: ReconcileError):
        lang = "en" if request.headers.get("accept-language", "").lower().startswith("en") else None
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return problem(exc.http_status, exc.title, exc.text(lang) if lang else str(exc), field=exc.field,
                       value=exc.value, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = []
        for error in exc.errors():
            value = error.get("input")
            shown = value if isinstance(value, (bool, type(None))) else mask_number(str(value)[:200])
            if isinstance(value, (int, float)) and not isinstance(value, bool) and shown == str(value):
                shown = value      # numbers echo as numbers unless they looked like an individual number
            errors.append({"field": _location(error.get("loc", ())), "message": mask_number(error.get("msg", "")),
                           "value": shown})
        detail = "; ".join(f"{e['field']}: {e['message']} (value: {e['value']!r})" for e in errors[:5])
        first = errors[0] if errors else {}
        return problem(422, "Invalid input", detail or "invalid request", field=first.get("field"), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path: {request.url.path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
            allowed = _allowed_methods(request.app, request.url.path)
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return problem(exc.status_code, _SLUGS.get(exc.status_code, "error").replace("-", " ").capitalize(),
                       detail, headers=headers)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError):
        log.warning("database error on %s: %s", request.url.path, type(exc).__name__)
        return problem(503, "Service unavailable", "データベースに接続できません / the database is unavailable")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        if isinstance(exc, DBAPIError):
            return problem(503, "Service unavailable", "データベースのエラーです / database error")
        return problem(500, "Internal error", f"内部エラー / internal error ({type(exc).__name__})")


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some operation of the OpenAPI document offers on ``path`` (for a 405's Allow)."""
    import re

    paths = app.openapi().get("paths", {})
    if path in paths:            # a literal path (…/bulk-resolve) wins over a template ({item_id})
        return sorted(m.upper() for m in paths[path])
    methods: set[str] = set()
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods.update(m.upper() for m in operations)
    return sorted(methods)


def _session_key(settings) -> bytes:
    if getattr(settings, "secret_key", None):
        return hmac.new(settings.secret_key.encode("utf-8"), b"reconcile web session", hashlib.sha256).digest()
    return secrets.token_bytes(32)    # no key configured: sessions last as long as the process


def create_app(settings=None, *, engine=None) -> FastAPI:
    """The API app for ``settings`` (default :func:`reconcile.config.get_settings`)."""
    from reconcile import store, workflow
    from reconcile.config import get_settings

    from api.routes import audit, findings, health, queues, reports, scans, work_items
    from api.uploads import Scanner

    settings = settings or get_settings()
    if engine is None:
        # Sync routes run on a pool of 40 threads; enough connections that they do not queue for one.
        # No pre-ping: it is one more round trip per request; a connection the database dropped
        # fails that one request (503) and the pool replaces it.
        engine = store.get_engine(settings.database_url, pool_size=20, max_overflow=20, pool_pre_ping=False)
        store.upgrade(engine)
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.scanner.shutdown()

    app = FastAPI(title="reconcile", version="1", lifespan=lifespan,
                  description="保険者の被保険者情報と住基・オンライン資格確認の突合 / work queues API (contract api.md)")
    app.state.settings = settings
    app.state.engine = engine
    app.state.lease_minutes = workflow.lease_minutes(settings)
    app.state.actors = auth.ActorCache()        # verified credentials (api.deps.current_user)
    app.state.session_key = _session_key(settings)
    app.state.metrics = Metrics(engine)
    app.state.scanner = Scanner(engine, settings, on_finished=lambda status: app.state.metrics.uploads.labels(status).inc())
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _install_errors(app)
    _recover_uploads(engine)

    for module in (health, scans, findings, queues, work_items, audit, reports):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/metrics", include_in_schema=True, tags=["metrics"],
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def metrics(user: CurrentUser):
        """Prometheus metrics (supervisor, admin): requests, latencies, scans, queue sizes."""
        user.require(auth.METRICS)
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _mount_web(app)
    _document_problems(app)
    return app


#: Error statuses every authenticated operation may answer with, as problem+json.
ERROR_STATUSES = {400: "malformed request (body not parseable)", 401: "no or invalid token", 403: "the role may not do this",
                  404: "not found, or outside the user's insurers", 409: "conflict with the item's state",
                  422: "invalid input (names the field and value)", 503: "database unavailable"}


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document that errors are application/problem+json (one schema, every route)."""
    from fastapi.openapi.utils import get_openapi

    from api.schemas import Problem

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                statuses = {503} if path.endswith("/health") else set(ERROR_STATUSES)
                for status in statuses:
                    responses[str(status)] = {"description": ERROR_STATUSES[status], "content": problem_ref}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


#: Set by ``reconcile serve`` before its workers start (ISO time): uploads made after it belong to
#: a worker of this server, which may still be scanning them when another worker (re)starts.
SERVER_STARTED_ENV = "RECONCILE_SERVER_STARTED_AT"


def _recover_uploads(engine) -> None:
    """Uploads a previous server process left queued or running will never finish: say so."""
    import os
    from datetime import datetime

    import sqlalchemy as sa
    from reconcile import workflow
    from reconcile.store.models import Upload

    table = Upload.__table__
    stale = table.c.status.in_([workflow.UPLOAD_QUEUED, workflow.UPLOAD_RUNNING])
    started = os.environ.get(SERVER_STARTED_ENV)
    if started:
        try:
            stale = sa.and_(stale, table.c.created_at < datetime.fromisoformat(started))
        except ValueError:
            pass
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(table)
                               .where(stale)
                               .values(status=workflow.UPLOAD_FAILED, message={
                                   "ja": "サーバーの再起動で走査が中断されました。もう一度送ってください",
                                   "en": "the server restarted before this scan finished; upload it again"}))
    except Exception:  # noqa: BLE001 — nothing to recover on a fresh store
        log.debug("no uploads to recover", exc_info=True)


def _mount_web(app: FastAPI) -> None:
    """The steward web UI (``api/web``, reports engineer) if it is there: ``api.web.register(app)``."""
    try:
        from api import web
    except ImportError:
        return
    register = getattr(web, "register", None)
    if register is None:
        return
    try:
        register(app)
    except ImportError:
        # A half-installed web UI must not take the JSON API down with it; the pages are missing
        # and the log says why.
        log.warning("web UI not mounted", exc_info=True)
