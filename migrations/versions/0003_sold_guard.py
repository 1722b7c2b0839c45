"""sold guard: variants.sold (units in paid orders, never above stock), orders.refund_reason,
and the Redis server the stock was last reconciled against

SQL is the last guard against overselling: Redis may come back behind (AOF ``everysec`` loses up
to a second; a failover promotes a lagging replica), so an order only becomes paid if its
variant's ``sold`` can move by the order's units and stay within ``stock``, in the same
transaction. ``sold`` starts as the units of the paid orders there are.

Revision ID: 0003
Revises: 0002
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('variants') as batch:
        batch.add_column(sa.Column('sold', sa.Integer(), nullable=False, server_default='0'))
    op.execute(
        "UPDATE variants SET sold = COALESCE((SELECT SUM(order_lines.quantity) FROM order_lines"
        " JOIN orders ON orders.id = order_lines.order_id"
        " WHERE order_lines.variant_id = variants.id AND orders.status = 'paid'), 0)"
    )
    # A database that already oversold cannot take the constraint: raise its stock to what was
    # sold first (the operator sees the oversold units in the orders, as before).
    op.execute("UPDATE variants SET stock = sold WHERE sold > stock")
    with op.batch_alter_table('variants') as batch:
        batch.create_check_constraint('ck_variants_sold_within_stock', 'sold >= 0 AND sold <= stock')
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('refund_reason', sa.String(length=32), nullable=True))
    op.create_table(
        'redis_epochs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('reconciled_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('redis_epochs')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('refund_reason')
    with op.batch_alter_table('variants') as batch:
        batch.drop_constraint('ck_variants_sold_within_stock', type_='check')
        batch.drop_column('sold')
