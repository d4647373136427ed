"""Request dependencies: the database session, who is asking, and their insurer scope.

Authorisation lives here and in :mod:`reconcile.workflow`, never in a handler:

- :data:`DbSession` — one session per request; it commits when the handler returns (before the
  response is sent) and rolls back when it raises. Handlers run the use case and its commit in one
  worker thread with :func:`in_worker` (one thread hop per request; the dependencies themselves are
  ``async`` and touch no database while the credential is cached).
- :data:`CurrentUser` — the :class:`reconcile.auth.Actor` of ``Authorization: Bearer <token>``,
  or of the web UI's signed session cookie (:data:`SESSION_COOKIE`). No or a bad credential is 401.
  A verified credential is remembered for :data:`reconcile.auth.ACTOR_CACHE_SECONDS` in the app's
  :class:`reconcile.auth.ActorCache` (forgotten when a token, password or user change commits).
  A cookie authorises safe methods (GET, HEAD); any other method with a cookie needs the
  session's CSRF token in the ``X-CSRF-Token`` header (the web forms check their own field).
- :data:`WebUser` — the cookie's Actor or None (for the HTML pages, which redirect to /login).
- :data:`InsurerScope` — the insurers the user may see (None = every insurer).

Session cookie hook for the web UI (``api/web``)::

    actor = auth.authenticate_password(db, form.username, form.password)
    response = RedirectResponse("/", 303)
    start_session(request, response, actor)      # sets the HttpOnly, SameSite=Lax cookie
    csrf_token(request)                          # the token a form must echo (check_csrf)
    end_session(response)                        # sign out
"""
from __future__ import annotations

import hmac
import secrets
from typing import Annotated, AsyncIterator, Callable, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from reconcile import auth, workflow
from reconcile.auth import Actor
from reconcile.errors import ReconcileError

SESSION_COOKIE = "reconcile_session"
SESSION_MAX_AGE = 8 * 3600
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(ReconcileError):
    """No, an unknown or a disabled credential (401)."""
    exit_code, http_status, title = 2, 401, "Not authenticated"


T = TypeVar("T")


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _roll_back_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def _session(request: Request) -> AsyncIterator[Session]:
    """The request's session (``store.session_scope``'s commit-or-roll-back, without a thread hop
    when :func:`in_worker` already committed: a Session connects only when it first executes)."""
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(_roll_back_and_close, session)
        else:
            session.close()
        raise
    if session.in_transaction():
        await run_in_threadpool(_commit_and_close, session)
    else:
        session.close()


async def in_worker(db: Session, work: Callable[..., T], /, *args, **kwargs) -> T:
    """Run the use case ``work(*args, **kwargs)`` — blocking database calls — in one worker thread,
    and commit ``db`` there when it returns: one thread hop per request instead of one per
    dependency, commit and response validation (each hop waits for a thread and for the GIL)."""
    def run() -> T:
        result = work(*args, **kwargs)
        if db.in_transaction():
            db.commit()
        return result
    return await run_in_threadpool(run)


# scope="function": the transaction ends when the handler returns, before the response goes out,
# so a client that got 200 for a claim can rely on the claim being committed.
DbSession = Annotated[Session, Depends(_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="API token printed by `reconcile user add` / `user token`")


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.session_key, salt="reconcile-web-session")


def read_session(request: Request) -> dict | None:
    """The signed cookie's content ``{"u": name, "csrf": token}``, or None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and "u" in data else None


def start_session(request: Request, response: Response, actor: Actor) -> str:
    """Sign ``actor`` in on ``response`` (HttpOnly, SameSite=Lax cookie); returns the CSRF token."""
    token = secrets.token_urlsafe(24)
    value = _serializer(request).dumps({"u": actor.name, "csrf": token})
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    return token


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: Request) -> str | None:
    data = read_session(request)
    return data.get("csrf") if data else None


def check_csrf(request: Request, submitted: str | None) -> bool:
    expected = csrf_token(request)
    return bool(expected and submitted and hmac.compare_digest(expected, submitted))


def _actors(request: Request) -> auth.ActorCache:
    cache = getattr(request.app.state, "actors", None)
    if cache is None:
        cache = request.app.state.actors = auth.ActorCache()
    return cache


def _cookie_actor(request: Request, db: Session) -> Actor | None:
    data = read_session(request)
    if not data:
        return None
    return _actors(request).get(("user", data["u"]), lambda: auth.actor_by_name(db, data["u"]))


async def _cookie_actor_async(request: Request, db: Session) -> Actor | None:
    data = read_session(request)
    if not data:
        return None
    cache, key = _actors(request), ("user", data["u"])
    actor = cache.lookup(key)
    if actor is None:
        generation = cache.generation
        actor = await run_in_threadpool(auth.actor_by_name, db, data["u"])
        cache.remember(key, actor, generation)
    return actor


async def current_user(request: Request, db: DbSession,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    if credentials is not None:
        cache, key = _actors(request), ("token", auth.hash_token(credentials.credentials))
        actor = cache.lookup(key)
        if actor is None:
            generation = cache.generation
            actor = await run_in_threadpool(auth.authenticate_token, db, credentials.credentials)
            cache.remember(key, actor, generation)
        if actor is None:
            raise NotAuthenticated("トークンが無効です（失効・無効化された利用者を含む）",
                                   "invalid token (unknown, replaced, or the user is disabled)",
                                   field="Authorization")
        request.state.actor = actor
        return actor
    actor = await _cookie_actor_async(request, db)
    if actor is not None and (request.method in SAFE_METHODS
                              or check_csrf(request, request.headers.get(CSRF_HEADER))):
        request.state.actor = actor
        return actor
    raise NotAuthenticated("認証が必要です: Authorization: Bearer <token>",
                           "authentication required: Authorization: Bearer <token>", field="Authorization")


def web_user(request: Request, db: DbSession) -> Actor | None:
    actor = _cookie_actor(request, db)
    if actor is not None:
        request.state.actor = actor
    return actor


async def insurer_scope(user: Annotated[Actor, Depends(current_user)]) -> tuple[str, ...] | None:
    return user.insurers


CurrentUser = Annotated[Actor, Depends(current_user)]
WebUser = Annotated[Actor | None, Depends(web_user)]
InsurerScope = Annotated[tuple[str, ...] | None, Depends(insurer_scope)]


async def language(request: Request) -> str:
    """``?lang=en`` or ``Accept-Language: en…`` → English; Japanese otherwise."""
    chosen = request.query_params.get("lang")
    if chosen in ("ja", "en"):
        return chosen
    header = request.headers.get("accept-language", "")
    return "en" if header.lower().startswith("en") else "ja"


Lang = Annotated[str, Depends(language)]


async def settings_of(request: Request):
    return request.app.state.settings


__all__ = ["CSRF_HEADER", "CurrentUser", "DbSession", "InsurerScope", "Lang", "NotAuthenticated",
           "SESSION_COOKIE", "WebUser", "check_csrf", "csrf_token", "end_session", "in_worker", "read_session",
           "settings_of", "start_session"]


#: Cursor pagination, the same on every list route (api.md: ``limit`` ≤ 500, opaque ``cursor``).
PageLimit = Annotated[int, Query(ge=1, le=workflow.MAX_LIMIT)]
PageCursor = Annotated[str | None, Query(max_length=200)]
