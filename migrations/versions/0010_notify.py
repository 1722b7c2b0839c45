"""show reminders and back-in-stock waiting lists (docs/notify.md)

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'show_reminders',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('show_id', sa.Integer(), sa.ForeignKey('shows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('buyer_id', sa.String(length=32), sa.ForeignKey('buyers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('sent_24h_at', sa.BigInteger(), nullable=True),
        sa.Column('sent_15min_at', sa.BigInteger(), nullable=True),
        sa.Column('sent_live_at', sa.BigInteger(), nullable=True),
        sa.UniqueConstraint('show_id', 'buyer_id', name='uq_show_reminders_show_buyer'),
        sa.UniqueConstraint('token', name='uq_show_reminders_token'),
    )
    op.create_index('ix_show_reminders_show_id', 'show_reminders', ['show_id'])
    op.create_table(
        'waitlist_entries',
        sa.Column('id', sa.String(length=24), primary_key=True),
        sa.Column('show_id', sa.Integer(), sa.ForeignKey('shows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id', ondelete='CASCADE'), nullable=False),
        sa.Column('variant_id', sa.Integer(), sa.ForeignKey('variants.id', ondelete='CASCADE'), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('buyer_id', sa.String(length=32), sa.ForeignKey('buyers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('hold_id', sa.String(length=64), nullable=False),
        sa.Column('joined_at', sa.BigInteger(), nullable=False),
        sa.Column('offered_at', sa.BigInteger(), nullable=True),
        sa.Column('deadline', sa.BigInteger(), nullable=True),
        sa.UniqueConstraint('variant_id', 'buyer_id', name='uq_waitlist_variant_buyer'),
    )
    op.create_index('ix_waitlist_entries_show_id', 'waitlist_entries', ['show_id'])
    op.create_index('ix_waitlist_entries_host_id', 'waitlist_entries', ['host_id'])
    op.create_index('ix_waitlist_entries_buyer_id', 'waitlist_entries', ['buyer_id'])
    op.create_index('ix_waitlist_entries_state', 'waitlist_entries', ['state'])


def downgrade() -> None:
    op.drop_table('waitlist_entries')
    op.drop_table('show_reminders')
