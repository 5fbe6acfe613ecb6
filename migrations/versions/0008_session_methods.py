"""sign-in methods on browser sessions: what amr is derived from

Revision ID: 0008_session_methods
Revises: 0007_revocations
Create Date: 2026-11-29 21:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008_session_methods'
down_revision = '0007_revocations'
branch_labels = None
depends_on = None


def upgrade():
    # NULL for sessions started before: their methods are read back from amr.
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'methods',
                sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.drop_column('methods')
