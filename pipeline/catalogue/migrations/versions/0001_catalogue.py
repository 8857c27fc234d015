"""The catalogue: decisions, trainings, persons, attendance, teaching, media, counters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogue_meta',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('counters',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('decisions',
    sa.Column('receipt_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_at', sa.String(length=40), nullable=True),
    sa.Column('decided_ts', sa.Float(), nullable=False),
    sa.Column('received_at', sa.String(length=40), nullable=True),
    sa.Column('institution', sa.Text(), nullable=True),
    sa.Column('report_date', sa.String(length=10), nullable=True),
    sa.Column('package_name', sa.Text(), nullable=True),
    sa.Column('package_size', sa.BigInteger(), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('account', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('error_codes', sa.Text(), nullable=True),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('warning_codes', sa.Text(), nullable=True),
    sa.Column('duplicate_of', sa.String(length=40), nullable=True),
    sa.Column('supersedes', sa.String(length=40), nullable=True),
    sa.Column('stored_as', sa.Text(), nullable=True),
    sa.Column('package_removed_at', sa.String(length=40), nullable=True),
    sa.Column('policy_sha256', sa.String(length=64), nullable=True),
    sa.Column('facts_recorded', sa.Integer(), nullable=False),
    sa.Column('erased_at', sa.String(length=40), nullable=True),
    sa.Column('erased_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('receipt_id')
    )
    op.create_index('ix_decisions_decided_ts', 'decisions', ['decided_ts'], unique=False)
    op.create_index('ix_decisions_sha256', 'decisions', ['package_sha256'], unique=False)
    op.create_index('ix_decisions_status_ts', 'decisions', ['status', 'decided_ts'], unique=False)
    op.create_index('ix_decisions_supersedes', 'decisions', ['supersedes'], unique=False)
    op.create_table('persons',
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('masked', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('person_key')
    )
    op.create_table('trainings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('receipt_id', sa.String(length=40), nullable=False),
    sa.Column('training_key', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.Text(), nullable=False),
    sa.Column('occupation', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('folder', sa.Text(), nullable=False),
    sa.Column('start_date', sa.String(length=10), nullable=True),
    sa.Column('end_date', sa.String(length=10), nullable=True),
    sa.Column('theory_mode', sa.String(length=32), nullable=True),
    sa.Column('practice_mode', sa.String(length=32), nullable=True),
    sa.Column('planned_trainees', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['receipt_id'], ['decisions.receipt_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt_id', 'folder', name='uq_trainings_receipt_folder')
    )
    op.create_index('ix_trainings_key', 'trainings', ['training_key'], unique=False)
    op.create_index('ix_trainings_receipt', 'trainings', ['receipt_id'], unique=False)
    op.create_table('attendance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('training_id', sa.Integer(), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('date', sa.String(length=10), nullable=True),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('hours', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['person_key'], ['persons.person_key'], ),
    sa.ForeignKeyConstraint(['training_id'], ['trainings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_attendance_person_date', 'attendance', ['person_key', 'date', 'training_id', 'mode'],
                    unique=False)
    op.create_index('ix_attendance_training', 'attendance', ['training_id'], unique=False)
    op.create_table('media',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('training_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('phash', sa.BigInteger(), nullable=True),
    sa.Column('band0', sa.Integer(), nullable=True),
    sa.Column('band1', sa.Integer(), nullable=True),
    sa.Column('band2', sa.Integer(), nullable=True),
    sa.Column('band3', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['training_id'], ['trainings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_media_band0', 'media', ['band0', 'phash'], unique=False, postgresql_include=['id'])
    op.create_index('ix_media_band1', 'media', ['band1', 'phash'], unique=False, postgresql_include=['id'])
    op.create_index('ix_media_band2', 'media', ['band2', 'phash'], unique=False, postgresql_include=['id'])
    op.create_index('ix_media_band3', 'media', ['band3', 'phash'], unique=False, postgresql_include=['id'])
    op.create_index('ix_media_sha256', 'media', ['sha256'], unique=False)
    op.create_index('ix_media_training', 'media', ['training_id'], unique=False)
    op.create_table('teaching',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('training_id', sa.Integer(), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('date', sa.String(length=10), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('section', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['person_key'], ['persons.person_key'], ),
    sa.ForeignKeyConstraint(['training_id'], ['trainings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_teaching_person_date', 'teaching', ['person_key', 'date', 'training_id', 'hours'],
                    unique=False)
    op.create_index('ix_teaching_training', 'teaching', ['training_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_teaching_training', table_name='teaching')
    op.drop_index('ix_teaching_person_date', table_name='teaching')
    op.drop_table('teaching')
    op.drop_index('ix_media_training', table_name='media')
    op.drop_index('ix_media_sha256', table_name='media')
    op.drop_index('ix_media_band3', table_name='media')
    op.drop_index('ix_media_band2', table_name='media')
    op.drop_index('ix_media_band1', table_name='media')
    op.drop_index('ix_media_band0', table_name='media')
    op.drop_table('media')
    op.drop_index('ix_attendance_training', table_name='attendance')
    op.drop_index('ix_attendance_person_date', table_name='attendance')
    op.drop_table('attendance')
    op.drop_index('ix_trainings_receipt', table_name='trainings')
    op.drop_index('ix_trainings_key', table_name='trainings')
    op.drop_table('trainings')
    op.drop_table('persons')
    op.drop_index('ix_decisions_supersedes', table_name='decisions')
    op.drop_index('ix_decisions_status_ts', table_name='decisions')
    op.drop_index('ix_decisions_sha256', table_name='decisions')
    op.drop_index('ix_decisions_decided_ts', table_name='decisions')
    op.drop_table('decisions')
    op.drop_table('counters')
    op.drop_table('catalogue_meta')
