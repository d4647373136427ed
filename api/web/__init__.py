"""Steward web UI (担当者画面) — server-rendered Jinja2 pages on the API's app, no build step.

Pages (contract api.md, "Web UI"): ``/login``, ``/``, ``/queues``, ``/queues/{queue}``, ``/items/{id}``,
``/dashboard``. Each page is built by one context function in :mod:`api.web.views`; the same context is
served as JSON with ``?format=json``. Access rules are the API's: the workflow functions take the
signed-in :class:`reconcile.auth.Actor` and raise ``NotFound`` for another insurer's item, which the
page shows as 404. Every form carries a CSRF token.
"""
from __future__ import annotations

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    """Mount the web pages on the API app (called by :func:`api.app.create_app`)."""
    from api.web.views import router

    app.include_router(router)
