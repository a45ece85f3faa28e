"""Transition counters kept per consumer lane, so that lanes applying one batch never wait on each other's rows.

A lane's transaction holds the row locks of the counters it moved until it commits; with one row per
(day, from, to, segment), a second lane of the same batch touching the same transition waited for the first to
commit. Readers sum the counts, so splitting a row by lane changes no answer.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE transition_days ADD COLUMN lane smallint NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE transition_days DROP CONSTRAINT transition_days_pkey")
    op.execute("ALTER TABLE transition_days ADD PRIMARY KEY (tenant_id, day, from_stage, to_stage, segment, lane)")


def downgrade() -> None:
    op.execute(
        "CREATE TEMP TABLE merged AS SELECT tenant_id, day, from_stage, to_stage, segment, sum(count)::int AS count "
        "FROM transition_days GROUP BY 1, 2, 3, 4, 5"
    )
    op.execute("DELETE FROM transition_days")
    op.execute("ALTER TABLE transition_days DROP CONSTRAINT transition_days_pkey")
    op.execute("ALTER TABLE transition_days DROP COLUMN lane")
    op.execute("ALTER TABLE transition_days ADD PRIMARY KEY (tenant_id, day, from_stage, to_stage, segment)")
    op.execute("INSERT INTO transition_days SELECT * FROM merged")
