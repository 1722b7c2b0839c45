"""the transactional outbox: events written with the change they announce

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'outbox_events',
        sa.Column('id', sa.String(length=32), primary_key=True),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('dispatched_at', sa.BigInteger(), nullable=True),
        sa.Column('dispatch_attempts', sa.Integer(), nullable=False, server_default='0'),
    )
    op.create_index('ix_outbox_events_host_created', 'outbox_events', ['host_id', 'created_at'])
    op.create_index('ix_outbox_events_dispatched_at', 'outbox_events', ['dispatched_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_events_dispatched_at', table_name='outbox_events')
    op.drop_index('ix_outbox_events_host_created', table_name='outbox_events')
    op.drop_table('outbox_events')
