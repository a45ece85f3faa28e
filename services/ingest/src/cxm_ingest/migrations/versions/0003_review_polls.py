"""Review polling state per app-store connection: the high-water mark, the last poll, the next one, the last error.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from cxm_common.migrations import enable_tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE review_polls (
            connection_id  uuid PRIMARY KEY,
            tenant_id      uuid NOT NULL,
            high_water     timestamptz,
            last_polled_at timestamptz,
            next_poll_at   timestamptz,
            last_error     text
        )
        """
    )
    enable_tenant_rls(op, "review_polls")


def downgrade() -> None:
    op.execute("DROP TABLE review_polls")
