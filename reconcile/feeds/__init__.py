"""フィード取込 / feed ingest: read, normalise, protect numbers, validate, quarantine.

Public API (the pipeline calls exactly this)::

    feed = load_feed(path, key=secret, as_of=None, progress=None)
    feed.frames["members"]      # canonical frame (detectors.schema), quarantined rows removed
    feed.quarantine             # file, line, column, value, reason
    feed.validation             # JSON-serialisable summary per file (GX results included)

``FeedRejected(file, column, message)`` is raised when the feed as a whole cannot be taken.
"""
from reconcile.feeds.model import Feed, FeedRejected
from reconcile.feeds.loader import load_feed

__all__ = ["Feed", "FeedRejected", "load_feed"]
