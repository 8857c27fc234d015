"""The web application's logins and audit trail: web_users, web_audit; an institution's
decisions newest first (its home page): ix_decisions_account_ts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_users',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('account', sa.Text(), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.String(length=40), nullable=False),
    sa.Column('disabled_at', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('web_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=40), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_web_audit_ts', 'web_audit', ['ts'], unique=False)
    op.create_index('ix_web_audit_receipt', 'web_audit', ['receipt_id'], unique=False)
    op.create_index('ix_decisions_account_ts', 'decisions', ['account', 'decided_ts'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_decisions_account_ts', table_name='decisions')
    op.drop_index('ix_web_audit_receipt', table_name='web_audit')
    op.drop_index('ix_web_audit_ts', table_name='web_audit')
    op.drop_table('web_audit')
    op.drop_table('web_users')
