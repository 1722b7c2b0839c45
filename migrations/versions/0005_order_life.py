"""order life: fulfilment (carrier, tracking, times), refunds per line with or without restock,
and every change recorded in order_events

orders.status grows to 24 characters ('partially_refunded'). order_refunds is the trail of each
refund (its provider idempotency key is refund:<order id>:<n>); order_events the history.

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('status', type_=sa.String(length=24), existing_type=sa.String(length=16),
                           existing_nullable=False)
        batch.add_column(sa.Column('carrier', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('tracking_number', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('fulfilled_at', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('delivered_at', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('refunded_cents', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('order_lines') as batch:
        batch.add_column(sa.Column('refunded_quantity', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('restocked_quantity', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'order_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.String(length=32), sa.ForeignKey('orders.id', ondelete='CASCADE'), nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_order_events_order_id', 'order_events', ['order_id'])
    op.create_table(
        'order_refunds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.String(length=32), sa.ForeignKey('orders.id', ondelete='CASCADE'), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('request_key', sa.String(length=128), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('restock', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('provider_refund_id', sa.String(length=64), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', 'n', name='uq_order_refunds_n'),
        sa.UniqueConstraint('order_id', 'request_key', name='uq_order_refunds_request_key'),
    )
    op.create_index('ix_order_refunds_order_id', 'order_refunds', ['order_id'])


def downgrade() -> None:
    op.drop_index('ix_order_refunds_order_id', 'order_refunds')
    op.drop_table('order_refunds')
    op.drop_index('ix_order_events_order_id', 'order_events')
    op.drop_table('order_events')
    with op.batch_alter_table('order_lines') as batch:
        batch.drop_column('restocked_quantity')
        batch.drop_column('refunded_quantity')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('refunded_cents')
        batch.drop_column('delivered_at')
        batch.drop_column('fulfilled_at')
        batch.drop_column('tracking_number')
        batch.drop_column('carrier')
        batch.alter_column('status', type_=sa.String(length=16), existing_type=sa.String(length=24),
                           existing_nullable=False)
