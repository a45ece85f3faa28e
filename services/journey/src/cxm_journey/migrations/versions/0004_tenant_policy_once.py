"""Journey's read models compare `tenant_id` with the transaction's tenant read once per statement, as a uuid.

The first policy called `current_setting` and turned `tenant_id` into text on every row, and the planner could not
estimate that comparison: it guessed a handful of rows where a funnel reads a hundred thousand, and planned per-row
nested loops. Here each setting is an initplan (evaluated once) and the comparison is uuid = uuid, estimated from the
column's statistics. Rows visible stay the same: a setting is a tenant only in the canonical text of a uuid
(`tenant_id::text` never equals anything else), `'*'` still shows every tenant, and no setting shows nothing.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "profiles",
    "customers",
    "steps",
    "visits",
    "transition_days",
    "stage_maps",
    "friction",
    "rederivations",
)
UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PREDICATE = (
    "(SELECT current_setting('cxm.tenant_id', true)) = '*' OR tenant_id = "
    f"(SELECT CASE WHEN t ~ '{UUID_TEXT}' THEN t::uuid END FROM current_setting('cxm.tenant_id', true) AS t)"
)
FIRST_PREDICATE = (
    "current_setting('cxm.tenant_id', true) = '*' OR tenant_id::text = current_setting('cxm.tenant_id', true)"
)


def upgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING ({PREDICATE}) WITH CHECK ({PREDICATE})")


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING ({FIRST_PREDICATE}) WITH CHECK ({FIRST_PREDICATE})")
