"""work queues: users' passwords, audit detail on events, comments, API uploads; append-only audit trail

Revision ID: 0003_work_queues
Revises: 0002_hardening
Create Date: 2026-12-01 17:30:00

- ``users.password_hash`` (web sign-in; the API token stays in ``token_hash``).
- ``events``: ``work_item_id`` may be NULL (events about users, not items); ``subject``,
  ``state_before``, ``state_after`` (JSON) record what changed.
- ``comments`` (a steward's notes on an item) and ``uploads`` (feeds posted to ``POST /api/v1/scans``).
- ``events`` and ``comments`` are append-only: a trigger refuses UPDATE and DELETE on both
  databases, so no code path — not even a mistaken one — can edit or delete the audit trail.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003_work_queues'
down_revision = '0002_hardening'
branch_labels = None
depends_on = None

APPEND_ONLY = ("events", "comments")


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('password_hash', sa.String(length=256), nullable=True))
    with op.batch_alter_table('events') as batch:
        batch.alter_column('work_item_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('subject', sa.String(length=160), nullable=True))
        batch.add_column(sa.Column('state_before', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('state_after', sa.JSON(), nullable=True))

    op.create_table('comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_item_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author', sa.String(length=128), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['work_item_id'], ['work_items.id'], name=op.f('fk_comments_work_item_id_work_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments'))
    )
    op.create_index(op.f('ix_comments_work_item_id'), 'comments', ['work_item_id'], unique=False)

    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('uploaded_by', sa.String(length=128), nullable=False),
    sa.Column('insurer_scope', sa.JSON(), nullable=True),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('files', sa.JSON(), nullable=True),
    sa.Column('insurer_numbers', sa.JSON(), nullable=True),
    sa.Column('scan_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_uploads_scan_id_scans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    op.create_index(op.f('ix_uploads_status'), 'uploads', ['status'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION reconcile_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
            END $$""")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION reconcile_append_only()")
    else:
        for table in APPEND_ONLY:
            for what in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {what} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS reconcile_append_only()")
    else:
        for table in APPEND_ONLY:
            for what in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{what}")
    op.drop_index(op.f('ix_uploads_status'), table_name='uploads')
    op.drop_table('uploads')
    op.drop_index(op.f('ix_comments_work_item_id'), table_name='comments')
    op.drop_table('comments')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('state_after')
        batch.drop_column('state_before')
        batch.drop_column('subject')
        batch.alter_column('work_item_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_hash')
