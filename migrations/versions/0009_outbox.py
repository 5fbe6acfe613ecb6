"""outbox: audit rows, mail, back-channel logouts and account jobs committed with the change

Revision ID: 0009_outbox
Revises: 0008_session_methods
Create Date: 2026-11-29 21:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009_outbox'
down_revision = '0008_session_methods'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=200), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column(
            'payload',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_kind_available', ['kind', 'available_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('outbox')
