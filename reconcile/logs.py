"""構造化ログ / structured logs for operators: one JSON object per line, no personal data.

``reconcile --log-format json …`` or ``RECONCILE_LOG_FORMAT=json`` switches every log line on
stderr to JSON (for journald, Loki, CloudWatch …)::

    {"ts": "2026-12-01T17:40:02.123Z", "level": "INFO", "logger": "reconcile.schedule",
     "message": "feed folder done", "event": "watch.done", "folder": "2026-11", "scan_id": 12,
     "seconds": 18.4}

Fields given with ``log.info(..., extra={...})`` become keys of the object (values that are not
JSON become strings). Whatever the format, every handler of the root logger carries the
ingest engineer's masking filter (:class:`reconcile.privacy.NumberMaskingFilter`), so a
12-digit run that reaches a log message, an argument, an extra field or a traceback is masked
before it is written. Names and addresses are never logged by the product (the code logs
counts, ids of scans and folders, timings); ``tests/ops/test_logs.py`` greps the logs of a real
scan for 12-digit runs and for the feed's names.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from typing import Any

LOG_FORMAT_ENV = "RECONCILE_LOG_FORMAT"
FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime",
                                                                                      "taskName"}


def mask_text(text: str) -> str:
    """The ingest engineer's :func:`reconcile.privacy.mask_text` (the one definition of a number-like run)."""
    from reconcile.privacy import mask_text as masker
    return masker(text)


def masking_filter() -> logging.Filter:
    """The ingest engineer's :class:`reconcile.privacy.NumberMaskingFilter`."""
    from reconcile.privacy import NumberMaskingFilter
    return NumberMaskingFilter()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return mask_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, message, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in payload:
                payload[key] = _jsonable(value)
        if record.exc_info or record.exc_text:
            payload["exc"] = mask_text(record.exc_text or self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = mask_text(record.stack_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def chosen_format(flag: str | None = None) -> str:
    """``--log-format`` if given, else ``RECONCILE_LOG_FORMAT``, else text."""
    value = (flag or os.environ.get(LOG_FORMAT_ENV) or "text").strip().lower()
    if value not in FORMATS:
        from reconcile.errors import InvalidInput
        raise InvalidInput(f"ログ形式 {value!r} は使えません（text か json）",
                           f"unknown log format {value!r} (text or json)", field=LOG_FORMAT_ENV, value=value)
    return value


def apply_log_format(flag: str | None = None) -> str:
    """Put the masking filter on every root handler and, for ``json``, the JSON formatter.

    Call after :func:`logging.basicConfig` (``reconcile.cli.common.setup_logging``)."""
    fmt = chosen_format(flag)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        if not any(getattr(f, "_reconcile_masking", False) for f in handler.filters):
            mask = masking_filter()
            mask._reconcile_masking = True  # type: ignore[attr-defined]
            handler.addFilter(mask)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
    return fmt


__all__ = ["JsonFormatter", "LOG_FORMAT_ENV", "apply_log_format", "chosen_format", "mask_text", "masking_filter"]
