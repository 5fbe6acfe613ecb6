"""client registration

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:31:54.047269

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_token_hash', sa.String(length=64), nullable=True))

    


def downgrade():
    
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('registration_token_hash')

    
