"""利用者と権限 / Users, tokens, passwords and what each role may do.

- Users are made with ``reconcile user add NAME --role ROLE [--insurer N ...]``; the API token
  is printed once and only its SHA-256 is stored (a 256-bit random token needs no slow hash).
- Web sign-in passwords are hashed with scrypt and a per-user random salt.
- :class:`ActorCache` remembers verified credentials for :data:`ACTOR_CACHE_SECONDS` in a server
  process (no user query per request); a token issued, a password set or a user disabled is
  forgotten by every cache of the process as soon as that change commits.
- :class:`Actor` is who is asking, with the insurers they may see (``None`` = every insurer,
  the admin). Use cases in :mod:`reconcile.workflow` take an Actor and raise
  :class:`~reconcile.errors.NotFound` for anything outside its insurers and
  :class:`~reconcile.errors.Forbidden` for an action its role may not take.

Roles (contract api.md) as data — :data:`PERMISSIONS`:

=========== ====== ===== ========= ===== ======= =====
role        read   work  supervise audit metrics users
=========== ====== ===== ========= ===== ======= =====
steward     yes    yes
supervisor  yes    yes   yes       yes   yes
auditor     yes                    yes
admin       yes    yes   yes       yes   yes     yes
=========== ====== ===== ========= ===== ======= =====
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from reconcile.errors import Conflict, Forbidden, InvalidInput, NotFound
from reconcile.store.models import ROLES, Event, User

READ, WORK, SUPERVISE, AUDIT, METRICS, USERS = "read", "work", "supervise", "audit", "metrics", "users"

PERMISSIONS: dict[str, frozenset[str]] = {
    "steward": frozenset({READ, WORK}),
    "supervisor": frozenset({READ, WORK, SUPERVISE, AUDIT, METRICS}),
    "auditor": frozenset({READ, AUDIT}),
    "admin": frozenset({READ, WORK, SUPERVISE, AUDIT, METRICS, USERS}),
}

PERMISSION_LABELS: dict[str, tuple[str, str]] = {
    READ: ("閲覧", "read"),
    WORK: ("作業項目の対応", "work on items"),
    SUPERVISE: ("割当・再オープン・一括解決・走査の開始", "assign, reopen, bulk resolve, start scans"),
    AUDIT: ("監査証跡の閲覧", "read the audit log"),
    METRICS: ("メトリクスの閲覧", "read metrics"),
    USERS: ("利用者の管理", "manage users"),
}

#: 保険者番号 / insurer numbers: 6 digits (国保) or 8 digits (others).
INSURER_NUMBER = re.compile(r"\d{6}|\d{8}")
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
TOKEN_PREFIX = "rct_"
MIN_PASSWORD = 8

# scrypt cost: n=2**14, r=8, p=1 (~16 MiB, tens of ms) — interactive sign-in, not per request.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2 ** 14, 8, 1


@dataclass(frozen=True)
class Actor:
    """Who is asking: a user name, a role and the insurers they may see (None = all)."""
    name: str
    role: str
    insurers: tuple[str, ...] | None
    user_id: int | None = None

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        """Raise :class:`Forbidden` unless the role carries ``permission``."""
        if not self.may(permission):
            ja, en = PERMISSION_LABELS[permission]
            raise Forbidden(f"役割 {self.role} には「{ja}」の権限がありません",
                            f"role {self.role} may not {en}")

    def sees(self, insurer_number: str | None) -> bool:
        """Whether an insurer's data is within this actor's scope (feed-wide rows: admin only)."""
        if self.insurers is None:
            return True
        return insurer_number is not None and insurer_number in self.insurers


SYSTEM = Actor(name="system", role="admin", insurers=None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- secrets -----------------------------------------------------------------------------------

def new_token() -> str:
    """A fresh random API token (shown once)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored for a token: SHA-256 hex (the token is 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                   p=int(p), dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


# --- authentication ----------------------------------------------------------------------------

def actor_of(user: User) -> Actor:
    scope = None if user.role == "admin" or user.insurer_scope is None else tuple(user.insurer_scope)
    return Actor(name=user.name, role=user.role, insurers=scope, user_id=user.id)


def authenticate_token(session: Session, token: str | None) -> Actor | None:
    """The active user holding ``token``, as an Actor; None for a missing, unknown or disabled token."""
    if not token:
        return None
    user = session.scalars(sa.select(User).where(User.token_hash == hash_token(token),
                                                 User.active.is_(True))).first()
    return actor_of(user) if user is not None else None


def authenticate_password(session: Session, name: str, password: str) -> Actor | None:
    """Web sign-in: the user's password, or their API token (contract api.md); None if neither fits."""
    user = session.scalars(sa.select(User).where(User.name == name, User.active.is_(True))).first()
    if user is None:
        return None
    if verify_password(password, user.password_hash):
        return actor_of(user)
    if user.token_hash and hmac.compare_digest(hash_token(password), user.token_hash):
        return actor_of(user)
    return None


def actor_by_name(session: Session, name: str) -> Actor | None:
    """The active user called ``name`` (for a session cookie that carries the user name)."""
    user = session.scalars(sa.select(User).where(User.name == name, User.active.is_(True))).first()
    return actor_of(user) if user is not None else None


# --- the server's memory of verified credentials ------------------------------------------------

#: How long one process trusts a verified token or session user without reading ``users`` again.
#: Changes made through this process (or any Session in it) are seen at once: their commit clears
#: every cache. A change committed by *another* process — ``reconcile user disable`` while
#: ``reconcile serve`` runs — reaches the server within this many seconds.
ACTOR_CACHE_SECONDS = 5.0

_CHANGED = "reconcile.auth.changed"
_caches: "weakref.WeakSet[ActorCache]" = weakref.WeakSet()


class ActorCache:
    """Actors of recently verified credentials (keys like ``("token", sha256)``), for ``ttl`` seconds.

    Only successes are remembered (a new token works at once). ``generation`` guards against a
    lookup that read the old row while a change committed: :meth:`remember` drops its result.
    """

    def __init__(self, ttl: float = ACTOR_CACHE_SECONDS, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self.generation = 0
        self._entries: dict[tuple, tuple[float, Actor]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def lookup(self, key: tuple) -> Actor | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def remember(self, key: tuple, actor: Actor | None, generation: int) -> None:
        if actor is None:
            return
        with self._lock:
            if generation == self.generation:
                if len(self._entries) > 10_000:     # bounded: stale entries of many users
                    self._entries.clear()
                self._entries[key] = (self.clock() + self.ttl, actor)

    def get(self, key: tuple, load) -> Actor | None:
        """The cached actor for ``key``, else ``load()`` (remembered when not None)."""
        actor = self.lookup(key)
        if actor is None:
            generation = self.generation
            actor = load()
            self.remember(key, actor, generation)
        return actor

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


def forget_credentials() -> None:
    """Clear every :class:`ActorCache` of this process (a user, token or password changed)."""
    for cache in list(_caches):
        cache.forget_all()


def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget_credentials()


sa.event.listen(Session, "after_commit", _forget_after_commit)


# --- user management (CLI `reconcile user …`) ---------------------------------------------------

@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    insurers: tuple[str, ...] | None
    active: bool
    has_password: bool
    created_at: datetime


def _info(user: User) -> UserInfo:
    return UserInfo(name=user.name, role=user.role,
                    insurers=None if user.insurer_scope is None else tuple(user.insurer_scope),
                    active=bool(user.active), has_password=user.password_hash is not None,
                    created_at=user.created_at)


def _user(session: Session, name: str) -> User:
    user = session.scalars(sa.select(User).where(User.name == name).with_for_update()).first()
    if user is None:
        raise NotFound(f"利用者 {name} はいません", f"no user {name}", field="name", value=name)
    return user


def _event(session: Session, actor: str, action: str, user: str, before: dict | None, after: dict | None) -> None:
    # every change to a user writes this event: the commit that stores it clears the actor caches
    session.info[_CHANGED] = True
    forget_credentials()
    session.add(Event(work_item_id=None, at=_now(), actor=actor, action=action, subject=f"user:{user}",
                      state_before=before, state_after=after))


def check_insurers(insurers: Iterable[str]) -> list[str]:
    out = []
    for number in insurers:
        number = str(number).strip()
        if not INSURER_NUMBER.fullmatch(number):
            raise InvalidInput(f"保険者番号 {number!r} は6桁または8桁の数字で指定してください",
                               f"insurer number {number!r}: use 6 or 8 digits", field="insurer", value=number)
        if number not in out:
            out.append(number)
    return out


def add_user(session: Session, name: str, role: str, insurers: Iterable[str] = (), *,
             actor: str = "cli") -> tuple[UserInfo, str]:
    """Create a user and return it with its API token (the only time the token is seen).

    Stewards, supervisors and auditors need at least one insurer; an admin sees every insurer
    (insurers given for an admin are refused rather than silently ignored).
    """
    if not USER_NAME.fullmatch(name or ""):
        raise InvalidInput(f"利用者名 {name!r} は英数字と _ . @ - で128文字まで",
                           f"user name {name!r}: letters, digits and _ . @ - (up to 128)", field="name", value=name)
    if role not in ROLES:
        raise InvalidInput(f"役割 {role!r} は {', '.join(ROLES)} のいずれかです",
                           f"role {role!r}: one of {', '.join(ROLES)}", field="role", value=role)
    scope = check_insurers(insurers)
    if role == "admin" and scope:
        raise InvalidInput("admin は全保険者を見るため --insurer は指定できません",
                           "an admin sees every insurer: do not give --insurer", field="insurer")
    if role != "admin" and not scope:
        raise InvalidInput(f"役割 {role} には --insurer で保険者番号を1つ以上指定してください",
                           f"role {role} needs at least one --insurer", field="insurer")
    if session.scalar(sa.select(sa.func.count()).select_from(User).where(User.name == name)):
        raise Conflict(f"利用者 {name} は既にいます", f"user {name} already exists", field="name", value=name)
    token = new_token()
    user = User(name=name, role=role, token_hash=hash_token(token), active=True, created_at=_now(),
                insurer_scope=None if role == "admin" else scope)
    session.add(user)
    session.flush()
    _event(session, actor, "user_added", name, None, {"role": role, "insurers": scope or None})
    return _info(user), token


def set_password(session: Session, name: str, password: str, *, actor: str = "cli") -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"パスワードは{MIN_PASSWORD}文字以上にしてください",
                           f"the password needs at least {MIN_PASSWORD} characters", field="password")
    user = _user(session, name)
    had = user.password_hash is not None
    user.password_hash = hash_password(password)
    _event(session, actor, "password_set", name, {"password": "set" if had else None}, {"password": "set"})


def list_users(session: Session) -> list[UserInfo]:
    return [_info(u) for u in session.scalars(sa.select(User).order_by(User.name))]


def disable_user(session: Session, name: str, *, actor: str = "cli") -> UserInfo:
    """Disable a user: its token and password stop working at once (the row stays for the audit trail)."""
    user = _user(session, name)
    was = bool(user.active)
    user.active = False
    _event(session, actor, "user_disabled", name, {"active": was}, {"active": False})
    return _info(user)


def issue_token(session: Session, name: str, *, actor: str = "cli") -> str:
    """A new API token for ``name``; the previous one stops working."""
    user = _user(session, name)
    token = new_token()
    user.token_hash = hash_token(token)
    _event(session, actor, "token_issued", name, {"token": "replaced"}, {"token": "new"})
    return token


__all__ = ["ACTOR_CACHE_SECONDS", "AUDIT", "Actor", "ActorCache", "METRICS", "PERMISSIONS", "READ", "SUPERVISE",
           "SYSTEM", "USERS", "UserInfo", "WORK", "actor_by_name", "actor_of", "add_user", "authenticate_password",
           "authenticate_token", "check_insurers", "disable_user", "forget_credentials", "hash_password", "hash_token",
           "issue_token", "list_users", "new_token", "set_password", "verify_password"]
