"""Prometheus metrics of one server process: requests, latencies, scans, queue sizes.

Labels are route templates (``/api/v1/work-items/{item_id}``), queues and statuses — never a
member, an item id or a user. Queue sizes and scan counts are read from the store at scrape time.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIX = "/api/v1"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5, 5.0, 10.0)


class StoreCollector:
    """Work items per queue and status, scans per status (read when Prometheus scrapes)."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        from reconcile import workflow
        from reconcile.store.models import Scan

        items = GaugeMetricFamily("reconcile_work_items", "Work items per queue and status",
                                  labels=["queue", "status"])
        scans = GaugeMetricFamily("reconcile_scans", "Scans per status", labels=["status"])
        try:
            with Session(self.engine) as session:
                for (queue, status), n in sorted(workflow.queue_sizes(session).items()):
                    items.add_metric([queue, status], n)
                for status, n in session.execute(sa.select(Scan.status, sa.func.count()).group_by(Scan.status)):
                    scans.add_metric([status], int(n))
        except Exception:  # noqa: BLE001 — an unreachable store must not break the scrape
            pass
        yield items
        yield scans


class Metrics:
    def __init__(self, engine):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("reconcile_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("reconcile_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=BUCKETS, registry=self.registry)
        self.uploads = Counter("reconcile_uploaded_scans", "Feeds uploaded through the API, by outcome",
                               ["status"], registry=self.registry)
        self.registry.register(StoreCollector(engine))


def _with_prefix(path: str, template: str) -> str:
    """``/api/v1`` + ``/work-items/{item_id}`` for a request of ``/api/v1/work-items/7``."""
    head = template.split("{")[0]
    at = path.find(head) if head not in ("", "/") else path.find(template.rstrip("/"))
    return (path[:at] + template) if at > 0 else template


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead on every request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            # an included router's route reports its path without the router's prefix
            if template != "unmatched" and scope["path"].startswith(API_PREFIX) and not template.startswith(API_PREFIX):
                template = API_PREFIX + template
            prefix = scope.get("root_path", "") + scope.get("app_root_path", "")
            if template != "unmatched" and not scope["path"].startswith(template.split("{")[0]):
                # routes of an included router report their path without the router's prefix
                template = scope["path"][: len(scope["path"]) - len(scope["path"].lstrip("/"))] + template
                template = _with_prefix(scope["path"], template)
            del prefix
            self.metrics.requests.labels(scope["method"], template, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)
