"""the language a draw entry was made in: the draw's won/lost emails are written in it (docs/translations.md)

Revision ID: 0015
Revises: 0014 (the email locales)
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0015'
down_revision: Union[str, None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable: entries from before have none, and their emails stay English.
    op.add_column('draw_entries', sa.Column('locale', sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column('draw_entries', 'locale')
