"""vms

Revision ID: 0005v
Revises: 0006s
"""

from alembic import op
import sqlalchemy as sa


revision = '0005v'
down_revision = '0006s'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vms',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('cpu', sa.Integer(), nullable=False),
    sa.Column('memory', sa.Integer(), nullable=False),
    sa.Column('media', sa.JSON(), nullable=True),
    sa.Column('nics', sa.JSON(), nullable=True),
    sa.Column('accel', sa.String(length=8), nullable=False),
    sa.Column('updated_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('uuid')
    )
    op.create_index(op.f('ix_vms_node'), 'vms', ['node'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_vms_node'), table_name='vms')
    op.drop_table('vms')
