"""Alembic migrations shipped inside the package; applied by :func:`reconcile.store.upgrade`."""
