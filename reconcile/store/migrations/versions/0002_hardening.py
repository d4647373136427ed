"""hardening: unique feed fingerprints, work-item lifecycle columns, per-insurer scan locks,
the store's key fingerprint, and each scan's insurers (period, member count)

Revision ID: 0002_hardening
Revises: 0001
Create Date: 2026-12-01 17:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0002_hardening'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Feeds: one row per content fingerprint (issue #8 defect 15). Duplicates written by the old
    # check-then-insert race are folded into the oldest row first.
    op.execute("UPDATE scans SET feed_id = (SELECT MIN(f2.id) FROM feeds f1 JOIN feeds f2 "
               "ON f2.fingerprint = f1.fingerprint WHERE f1.id = scans.feed_id)")
    op.execute("DELETE FROM feeds WHERE id NOT IN (SELECT MIN(id) FROM feeds GROUP BY fingerprint)")
    op.drop_index(op.f('ix_feeds_fingerprint'), table_name='feeds')
    op.create_index(op.f('ix_feeds_fingerprint'), 'feeds', ['fingerprint'], unique=True)

    # Work items: priority, service level, claim lease, "no longer detected", reopened-from link.
    op.add_column('work_items', sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
    op.add_column('work_items', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('work_items', sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('work_items', sa.Column('not_seen_since_scan', sa.Integer(), nullable=True))
    op.add_column('work_items', sa.Column('previous_finding_id', sa.String(length=24), nullable=True))

    # One scan per insurer at a time; a crashed holder's row expires.
    op.create_table('scan_locks',
    sa.Column('insurer_number', sa.String(length=16), nullable=False),
    sa.Column('holder', sa.String(length=160), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('insurer_number', name=op.f('pk_scan_locks'))
    )
    # Store-wide facts: the secret key's fingerprint (never the key).
    op.create_table('store_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_store_meta'))
    )
    # Which insurers a scan covered, with the feed's reporting period and member count.
    op.create_table('scan_insurers',
    sa.Column('scan_id', sa.Integer(), nullable=False),
    sa.Column('insurer_number', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=True),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_scan_insurers_scan_id_scans')),
    sa.PrimaryKeyConstraint('scan_id', 'insurer_number', name=op.f('pk_scan_insurers'))
    )
    op.create_index(op.f('ix_scan_insurers_insurer_number'), 'scan_insurers', ['insurer_number'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_scan_insurers_insurer_number'), table_name='scan_insurers')
    op.drop_table('scan_insurers')
    op.drop_table('store_meta')
    op.drop_table('scan_locks')
    with op.batch_alter_table('work_items') as batch:
        for column in ('previous_finding_id', 'not_seen_since_scan', 'lease_until', 'due_at', 'priority'):
            batch.drop_column(column)
    op.drop_index(op.f('ix_feeds_fingerprint'), table_name='feeds')
    op.create_index(op.f('ix_feeds_fingerprint'), 'feeds', ['fingerprint'], unique=False)
