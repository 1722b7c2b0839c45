"""the language an order was bought in, and a reminder or waiting-list entry asked for in (their emails are
written in it; docs/translations.md)

Revision ID: 0014
Revises: 0013 (main's head when this was rebased onto it: the draws')
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable: orders from before have none, and their emails stay English.
    op.add_column('orders', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('show_reminders', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('waitlist_entries', sa.Column('locale', sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column('waitlist_entries', 'locale')
    op.drop_column('show_reminders', 'locale')
    op.drop_column('orders', 'locale')
