"""initial schema: feeds, scans, findings, work queues, audit events, quarantine, feed statistics, users

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:14:45.205041
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('as_of', sa.Date(), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=True),
    sa.Column('manifest', sa.JSON(), nullable=True),
    sa.Column('validation', sa.JSON(), nullable=True),
    sa.Column('row_counts', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feeds'))
    )
    op.create_index(op.f('ix_feeds_fingerprint'), 'feeds', ['fingerprint'], unique=False)

    op.create_table('findings',
    sa.Column('finding_id', sa.String(length=24), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('insurer_number', sa.String(length=16), nullable=True),
    sa.Column('member_id', sa.String(length=128), nullable=True),
    sa.Column('summary_ja', sa.Text(), nullable=True),
    sa.Column('summary_en', sa.Text(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.Column('suggested_resident_id', sa.String(length=128), nullable=True),
    sa.Column('suggested_individual_number_last4', sa.String(length=4), nullable=True),
    sa.Column('facts', sa.Text(), nullable=True),
    sa.Column('first_seen_scan', sa.Integer(), nullable=False),
    sa.Column('last_seen_scan', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('finding_id', name=op.f('pk_findings'))
    )
    op.create_index('ix_findings_insurer_member', 'findings', ['insurer_number', 'member_id'], unique=False)

    op.create_table('scan_findings',
    sa.Column('scan_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('scan_id', 'finding_id', name=op.f('pk_scan_findings'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=True),
    sa.Column('insurer_scope', sa.JSON(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_users_token_hash'))
    )
    op.create_table('work_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.String(length=24), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('assignee', sa.String(length=128), nullable=True),
    sa.Column('insurer_number', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_items')),
    sa.UniqueConstraint('finding_id', name=op.f('uq_work_items_finding_id'))
    )
    op.create_index(op.f('ix_work_items_insurer_number'), 'work_items', ['insurer_number'], unique=False)
    op.create_index('ix_work_items_queue_status', 'work_items', ['queue', 'status'], unique=False)
    op.create_index(op.f('ix_work_items_status'), 'work_items', ['status'], unique=False)

    op.create_table('scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['feed_id'], ['feeds.id'], name=op.f('fk_scans_feed_id_feeds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scans'))
    )
    op.create_index(op.f('ix_scans_feed_id'), 'scans', ['feed_id'], unique=False)
    op.create_index(op.f('ix_scans_status'), 'scans', ['status'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_item_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=True),
    sa.Column('scan_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_events_scan_id_scans')),
    sa.ForeignKeyConstraint(['work_item_id'], ['work_items.id'], name=op.f('fk_events_work_item_id_work_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index(op.f('ix_events_at'), 'events', ['at'], unique=False)
    op.create_index(op.f('ix_events_work_item_id'), 'events', ['work_item_id'], unique=False)

    op.create_table('feed_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.Integer(), nullable=False),
    sa.Column('insurer_number', sa.String(length=16), nullable=True),
    sa.Column('statistic', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_feed_stats_scan_id_scans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_stats'))
    )
    op.create_index('ix_feed_stats_insurer_statistic', 'feed_stats', ['insurer_number', 'statistic'], unique=False)
    op.create_index(op.f('ix_feed_stats_scan_id'), 'feed_stats', ['scan_id'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=255), nullable=False),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('column', sa.String(length=255), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_quarantine_scan_id_scans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    op.create_index(op.f('ix_quarantine_scan_id'), 'quarantine', ['scan_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_quarantine_scan_id'), table_name='quarantine')

    op.drop_table('quarantine')
    op.drop_index(op.f('ix_feed_stats_scan_id'), table_name='feed_stats')
    op.drop_index('ix_feed_stats_insurer_statistic', table_name='feed_stats')

    op.drop_table('feed_stats')
    op.drop_index(op.f('ix_events_work_item_id'), table_name='events')
    op.drop_index(op.f('ix_events_at'), table_name='events')

    op.drop_table('events')
    op.drop_index(op.f('ix_scans_status'), table_name='scans')
    op.drop_index(op.f('ix_scans_feed_id'), table_name='scans')

    op.drop_table('scans')
    op.drop_index(op.f('ix_work_items_status'), table_name='work_items')
    op.drop_index('ix_work_items_queue_status', table_name='work_items')
    op.drop_index(op.f('ix_work_items_insurer_number'), table_name='work_items')

    op.drop_table('work_items')
    op.drop_table('users')
    op.drop_table('scan_findings')
    op.drop_index('ix_findings_insurer_member', table_name='findings')

    op.drop_table('findings')
    op.drop_index(op.f('ix_feeds_fingerprint'), table_name='feeds')

    op.drop_table('feeds')
