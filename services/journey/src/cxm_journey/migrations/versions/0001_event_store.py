"""The event store, outbox, inbox and dead letters of the journey schema.

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


def downgrade() -> None:
    raise NotImplementedError("the event store is never dropped by a migration")
