"""JSON API routes under /api/v1 (contract api.md): thin calls into reconcile.workflow / service."""
