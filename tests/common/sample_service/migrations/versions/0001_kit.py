"""The kit's tables and a read model for the sample service.

Revision ID: 0001
Revises:
"""

from alembic import op

from cxm_common.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables(op)
    op.execute("CREATE TABLE notes (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, body text NOT NULL)")
    op.execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, trace_id text)")


def downgrade() -> None:
    raise NotImplementedError
