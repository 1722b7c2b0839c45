"""webhook endpoints, outbox deliveries per channel, and their attempts

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('failing_since', sa.BigInteger(), nullable=True),
        sa.Column('disabled_at', sa.BigInteger(), nullable=True),
    )
    op.create_index('ix_webhook_endpoints_host_id', 'webhook_endpoints', ['host_id'])
    op.create_table(
        'outbox_deliveries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('event_id', sa.String(length=32), sa.ForeignKey('outbox_events.id', ondelete='CASCADE'), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('delivered_at', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('event_id', 'channel', name='uq_outbox_deliveries_event_channel'),
    )
    op.create_index('ix_outbox_deliveries_due', 'outbox_deliveries', ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_deliveries_channel_created', 'outbox_deliveries', ['channel', 'created_at'])
    op.create_table(
        'delivery_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('delivery_id', sa.Integer(), sa.ForeignKey('outbox_deliveries.id', ondelete='CASCADE'), nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
    )
    op.create_index('ix_delivery_attempts_delivery_id', 'delivery_attempts', ['delivery_id'])


def downgrade() -> None:
    op.drop_index('ix_delivery_attempts_delivery_id', table_name='delivery_attempts')
    op.drop_table('delivery_attempts')
    op.drop_index('ix_outbox_deliveries_channel_created', table_name='outbox_deliveries')
    op.drop_index('ix_outbox_deliveries_due', table_name='outbox_deliveries')
    op.drop_table('outbox_deliveries')
    op.drop_index('ix_webhook_endpoints_host_id', table_name='webhook_endpoints')
    op.drop_table('webhook_endpoints')
