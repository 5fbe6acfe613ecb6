"""revoked access tokens: the durable record of revocations

Revision ID: 0007_revocations
Revises: 0006
Create Date: 2026-11-29 18:30:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0007_revocations'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revoked_access_tokens',
        sa.Column('jti', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('jti'),
    )
    with op.batch_alter_table('revoked_access_tokens', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_revoked_access_tokens_expires_at'), ['expires_at'], unique=False
        )


def downgrade():
    op.drop_table('revoked_access_tokens')
