"""a host's link to its Shopify shop (domain, webhook secret) and the shop's last known stock
count per SKU (inventory.shop_links)

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'shop_connections',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=False, unique=True),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('shop_domain', sa.String(length=255), nullable=False, unique=True),
        sa.Column('secret', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
    )
    op.create_table(
        'shop_stock_levels',
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('sku', sa.String(length=64), primary_key=True),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('seen_at', sa.BigInteger(), nullable=True),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('shop_stock_levels')
    op.drop_table('shop_connections')
