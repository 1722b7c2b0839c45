"""shipping and tax: a host's shipping profiles (its default and per show), and what an order's
total is made of (shipping, included tax) and the card it was paid with

Revision ID: 0006
Revises: 0004 (AT MERGE: 0005, the order life-cycle's migration)
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
# Written on a branch without 0005 (order life-cycle, built in parallel): at merge, set this to '0005'.
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'shipping_profiles',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('show_id', sa.Integer(), nullable=False),
        sa.Column('profile', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('host_id', 'show_id', name='uq_shipping_profiles_host_show'),
    )
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('shipping_cents', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('tax_cents', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('tax_label', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('tax_rate_bp', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('card_brand', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('card_last4', sa.String(length=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('card_last4')
        batch.drop_column('card_brand')
        batch.drop_column('tax_rate_bp')
        batch.drop_column('tax_label')
        batch.drop_column('tax_cents')
        batch.drop_column('shipping_cents')
    op.drop_table('shipping_profiles')
