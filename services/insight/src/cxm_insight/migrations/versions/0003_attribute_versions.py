"""Customers' attributes remember the version of the update that set each one (out-of-order deliveries converge).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE customers ADD COLUMN versions jsonb NOT NULL DEFAULT '{}'")
