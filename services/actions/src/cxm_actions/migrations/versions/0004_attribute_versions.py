"""Profiles remember the version of the customer update that set each field (out-of-order deliveries converge).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE profiles ADD COLUMN versions jsonb NOT NULL DEFAULT '{}'")
