"""Read models of tenants and API keys.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tenants (
            id         uuid PRIMARY KEY,
            name       text NOT NULL,
            created_at timestamptz NOT NULL
        )
        """
    )
    # Keys are looked up by their public prefix before the tenant is known, so this table has no row-level security.
    op.execute(
        """
        CREATE TABLE api_keys (
            id         uuid PRIMARY KEY,
            tenant_id  uuid NOT NULL REFERENCES tenants (id),
            name       text NOT NULL,
            lookup     text NOT NULL UNIQUE,
            digest     text NOT NULL,
            scopes     text[] NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
    op.execute("DROP TABLE tenants")
