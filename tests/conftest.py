"""Shared pytest fixtures. Others may append fixtures below; keep each one documented.

Database fixtures (store engineer)
----------------------------------
``db_url``      a fresh, empty database URL, parametrised over ``sqlite`` (a file in tmp_path)
                and ``postgresql`` (marked ``postgres``). The PostgreSQL case needs
                ``RECONCILE_TEST_POSTGRES_URL`` (e.g.
                ``postgresql+psycopg://postgres:postgres@127.0.0.1:5432/reconcile_test``) and is
                skipped when it is unset. Each test gets its own schema in that database
                (``CREATE SCHEMA``, selected through libpq ``options=-csearch_path=…`` in the URL,
                dropped afterwards), so nothing else in the database is touched and parallel
                runs do not collide. The role needs CREATE on the database.
``db_engine``   an Engine on ``db_url`` with the migrations applied (``upgrade(engine)``).
``db_session``  a Session on ``db_engine``; rolled back and closed after the test.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

POSTGRES_URL_ENV = "RECONCILE_TEST_POSTGRES_URL"


def _postgres_schema_url(base_url: str, schema: str) -> str:
    from reconcile.store import normalise_url
    url = make_url(normalise_url(base_url))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database URL: SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reconcile.db'}"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        if os.environ.get("RECONCILE_REQUIRE_POSTGRES"):  # CI: a missing server is a failure, not a skip
            pytest.fail(f"{POSTGRES_URL_ENV} is not set but RECONCILE_REQUIRE_POSTGRES is")
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    from reconcile.store import get_engine
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = get_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_engine(db_url):
    """Engine on ``db_url`` with ``alembic upgrade head`` applied."""
    from reconcile.store import get_engine, upgrade
    engine = get_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine):
    """A session on the migrated database; whatever the test leaves uncommitted is rolled back."""
    session = Session(db_engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture(autouse=True)
def _dispose_service_engines():
    """(store engineer) ``reconcile.service`` caches one engine per database URL for the process;
    close them after each test so per-test databases and schemas do not keep connections open."""
    yield
    import sys
    service = sys.modules.get("reconcile.service")
    if service is not None and hasattr(service, "dispose_engines"):
        service.dispose_engines()
