"""draw offers (docs/draws.md): the offer's claim window, whether an entry authorizes the price,
the frozen entries' hash and when the draw ran; the entries (identities in columns a GDPR erasure
can null while the audit keeps entry ids) and the log of hand-overs and voids after the draw

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('offers') as batch:
        batch.add_column(sa.Column('claim_minutes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('authorize', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('entries_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('drawn_at', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('giveaway', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('buyers_only', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('beacon_chain', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('beacon_round', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('beacon_signature', sa.String(length=192), nullable=True))
        batch.add_column(sa.Column('beacon_randomness', sa.String(length=64), nullable=True))
    op.create_table(
        'draw_entries',
        sa.Column('id', sa.String(length=24), primary_key=True),
        sa.Column('offer_id', sa.Integer(), sa.ForeignKey('offers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('buyer_id', sa.String(length=32), nullable=True),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('card_fingerprint', sa.String(length=64), nullable=True),
        sa.Column('country', sa.String(length=2), nullable=True),
        sa.Column('charge_id', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('hold_id', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('offer_id', 'buyer_id', name='uq_draw_entries_offer_buyer'),
        sa.UniqueConstraint('offer_id', 'email', name='uq_draw_entries_offer_email'),
        sa.UniqueConstraint('offer_id', 'card_fingerprint', name='uq_draw_entries_offer_card'),
    )
    op.create_index('ix_draw_entries_hold_id', 'draw_entries', ['hold_id'])
    op.create_index('ix_draw_entries_status', 'draw_entries', ['status'])
    op.create_table(
        'draw_log',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('offer_id', sa.Integer(), sa.ForeignKey('offers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('entry_id', sa.String(length=24), nullable=False),
        sa.Column('to_entry_id', sa.String(length=24), nullable=True),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
    )
    op.create_index('ix_draw_log_offer_id', 'draw_log', ['offer_id'])


def downgrade() -> None:
    op.drop_index('ix_draw_log_offer_id', 'draw_log')
    op.drop_table('draw_log')
    op.drop_index('ix_draw_entries_status', 'draw_entries')
    op.drop_index('ix_draw_entries_hold_id', 'draw_entries')
    op.drop_table('draw_entries')
    with op.batch_alter_table('offers') as batch:
        batch.drop_column('beacon_randomness')
        batch.drop_column('beacon_signature')
        batch.drop_column('beacon_round')
        batch.drop_column('beacon_chain')
        batch.drop_column('buyers_only')
        batch.drop_column('giveaway')
        batch.drop_column('drawn_at')
        batch.drop_column('entries_hash')
        batch.drop_column('authorize')
        batch.drop_column('claim_minutes')
