"""flists, vdisks, storage clusters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:53:21.358068
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flists',
    sa.Column('repo', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('md5', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('members', sa.JSON(), nullable=True),
    sa.Column('updated', sa.BigInteger(), nullable=False),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('repo', 'name')
    )
    op.create_table('storage_clusters',
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('servers', sa.JSON(), nullable=True),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('label')
    )
    op.create_table('vdisks',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('block_size', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('storage', sa.String(length=1024), nullable=False),
    sa.Column('read_only', sa.Boolean(), nullable=False),
    sa.Column('template', sa.String(length=1024), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('server', sa.String(length=255), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('vdisks')
    op.drop_table('storage_clusters')
    op.drop_table('flists')
