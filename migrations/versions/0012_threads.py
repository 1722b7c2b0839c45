"""private buyer-host threads and their messages (docs/threads.md)

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'threads',
        sa.Column('id', sa.String(length=24), primary_key=True),
        sa.Column('host_id', sa.Integer(), sa.ForeignKey('hosts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('buyer_id', sa.String(length=32), sa.ForeignKey('buyers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('blocked', sa.Boolean(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('last_message_at', sa.BigInteger(), nullable=False),
        sa.Column('buyer_read_at', sa.BigInteger(), nullable=False),
        sa.Column('host_read_at', sa.BigInteger(), nullable=False),
        sa.Column('emailed_at', sa.BigInteger(), nullable=True),
        sa.UniqueConstraint('host_id', 'buyer_id', name='uq_threads_host_buyer'),
    )
    op.create_index('ix_threads_host_id', 'threads', ['host_id'])
    op.create_index('ix_threads_buyer_id', 'threads', ['buyer_id'])
    op.create_index('ix_threads_last_message_at', 'threads', ['last_message_at'])
    op.create_table(
        'thread_messages',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('thread_id', sa.String(length=24), sa.ForeignKey('threads.id', ondelete='CASCADE'), nullable=False),
        sa.Column('sender', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('card', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
    )
    op.create_index('ix_thread_messages_thread_created', 'thread_messages', ['thread_id', 'created_at'])
    op.create_index('ix_thread_messages_created_at', 'thread_messages', ['created_at'])


def downgrade() -> None:
    op.drop_table('thread_messages')
    op.drop_table('threads')
