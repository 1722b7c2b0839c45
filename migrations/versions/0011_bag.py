"""the show's bag (products browsable from the viewer page; one checkout for several holds) and the
host who talks back (moderators, host messages, replies, a pinned message): docs/bag.md, docs/host-chat.md

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'show_bag_items',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('show_id', sa.Integer(), sa.ForeignKey('shows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id', ondelete='CASCADE'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.UniqueConstraint('show_id', 'product_id', name='uq_show_bag_show_product'),
    )
    op.create_index('ix_show_bag_items_show_id', 'show_bag_items', ['show_id'])
    op.create_table(
        'show_moderators',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('show_id', sa.Integer(), sa.ForeignKey('shows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('show_id', 'email', name='uq_show_moderators_show_email'),
    )
    op.create_index('ix_show_moderators_email', 'show_moderators', ['email'])
    with op.batch_alter_table('order_lines') as batch:
        batch.add_column(sa.Column('hold_id', sa.String(length=64), nullable=True))
    op.create_index('ix_order_lines_hold_id', 'order_lines', ['hold_id'], unique=True)
    with op.batch_alter_table('chat_messages') as batch:
        batch.add_column(sa.Column('role', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('reply_to_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('shows') as batch:
        batch.add_column(sa.Column('pinned_message_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shows') as batch:
        batch.drop_column('pinned_message_id')
    with op.batch_alter_table('chat_messages') as batch:
        batch.drop_column('reply_to_id')
        batch.drop_column('role')
    op.drop_index('ix_order_lines_hold_id', table_name='order_lines')
    with op.batch_alter_table('order_lines') as batch:
        batch.drop_column('hold_id')
    op.drop_index('ix_show_moderators_email', table_name='show_moderators')
    op.drop_table('show_moderators')
    op.drop_index('ix_show_bag_items_show_id', table_name='show_bag_items')
    op.drop_table('show_bag_items')
