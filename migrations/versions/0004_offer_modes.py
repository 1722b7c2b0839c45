"""offer modes: an offer is open (first come) or a queue (a randomized waiting room), with the
waiting room's admission rate, its secret seed and the seed's published commitment

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('offers') as batch:
        batch.add_column(sa.Column('mode', sa.String(length=8), nullable=False, server_default='open'))
        batch.add_column(sa.Column('admit_per_minute', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('seed', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('commitment', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('offers') as batch:
        batch.drop_column('commitment')
        batch.drop_column('seed')
        batch.drop_column('admit_per_minute')
        batch.drop_column('mode')
