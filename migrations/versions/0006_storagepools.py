"""storage pools, pool filesystems, pool snapshots

Revision ID: 0006s
Revises: 0002
Create Date: 2026-12-03 21:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006s'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('storagepools',
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=128), nullable=False),
    sa.Column('mountpoint', sa.String(length=1024), nullable=False),
    sa.Column('metadata_profile', sa.String(length=16), nullable=False),
    sa.Column('data_profile', sa.String(length=16), nullable=False),
    sa.Column('devices', sa.JSON(), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('filesystems', sa.JSON(), nullable=True),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'name')
    )
    op.create_table('pool_filesystems',
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('pool', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('quota', sa.BigInteger(), nullable=False),
    sa.Column('read_only', sa.Boolean(), nullable=False),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('snapshots', sa.JSON(), nullable=True),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'pool', 'name')
    )
    op.create_table('pool_snapshots',
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('pool', sa.String(length=64), nullable=False),
    sa.Column('filesystem', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'pool', 'filesystem', 'name')
    )


def downgrade() -> None:
    op.drop_table('pool_snapshots')
    op.drop_table('pool_filesystems')
    op.drop_table('storagepools')
