"""Ingest's read models: customers and their keys, feedback, interactions, connections, deliveries, erasures.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from cxm_common.migrations import enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "customers",
    "customer_keys",
    "feedback",
    "interactions",
    "deliveries",
    "idempotency_keys",
    "erasures",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE customers (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            attributes  jsonb NOT NULL DEFAULT '{}',
            pii         jsonb,
            merged_into uuid,
            erased_at   timestamptz
        )
        """
    )
    # A customer key (CRM id, email, phone, a source's user id) is kept only as a keyed digest.
    op.execute(
        """
        CREATE TABLE customer_keys (
            tenant_id   uuid NOT NULL,
            digest      text NOT NULL,
            kind        text NOT NULL,
            customer_id uuid NOT NULL,
            PRIMARY KEY (tenant_id, digest)
        )
        """
    )
    op.execute("CREATE INDEX customer_keys_customer ON customer_keys (customer_id)")
    op.execute(
        """
        CREATE TABLE feedback (
            id            uuid PRIMARY KEY,
            tenant_id     uuid NOT NULL,
            customer_id   uuid,
            channel       text NOT NULL,
            source        text NOT NULL,
            connection_id uuid,
            external_id   text,
            nps           smallint,
            csat          smallint,
            ces           smallint,
            touchpoint    text,
            occurred_at   timestamptz NOT NULL,
            received_at   timestamptz NOT NULL,
            metadata      jsonb NOT NULL DEFAULT '{}',
            pii           jsonb
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX feedback_external ON feedback (tenant_id, source, external_id) "
        "WHERE external_id IS NOT NULL"
    )
    op.execute("CREATE INDEX feedback_tenant_time ON feedback (tenant_id, occurred_at, id)")
    op.execute("CREATE INDEX feedback_customer ON feedback (tenant_id, customer_id, occurred_at)")
    op.execute(
        """
        CREATE TABLE interactions (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            customer_id uuid NOT NULL,
            name        text NOT NULL,
            channel     text,
            source      text NOT NULL,
            external_id text,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            pii         jsonb
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX interactions_external ON interactions (tenant_id, source, external_id) "
        "WHERE external_id IS NOT NULL"
    )
    op.execute("CREATE INDEX interactions_customer ON interactions (tenant_id, customer_id, occurred_at)")
    # Connections are looked up by id before the tenant is known (a webhook carries no API key): no RLS here.
    op.execute(
        """
        CREATE TABLE connections (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            source      text NOT NULL,
            name        text NOT NULL,
            secrets     jsonb NOT NULL,
            created_at  timestamptz NOT NULL,
            rotated_at  timestamptz,
            grace_until timestamptz,
            deleted_at  timestamptz
        )
        """
    )
    op.execute("CREATE INDEX connections_tenant ON connections (tenant_id, created_at)")
    op.execute(
        """
        CREATE TABLE deliveries (
            id            uuid PRIMARY KEY,
            tenant_id     uuid NOT NULL,
            connection_id uuid NOT NULL,
            delivery_id   text,
            received_at   timestamptz NOT NULL,
            outcome       text NOT NULL,
            reason        text,
            records       integer NOT NULL DEFAULT 0
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX deliveries_dedupe ON deliveries (connection_id, delivery_id) "
        "WHERE outcome = 'accepted' AND delivery_id IS NOT NULL"
    )
    op.execute("CREATE INDEX deliveries_connection ON deliveries (connection_id, received_at DESC)")
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            tenant_id    uuid NOT NULL,
            key          text NOT NULL,
            request_hash text NOT NULL,
            status       integer NOT NULL,
            response     jsonb NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE erasures (
            id           uuid PRIMARY KEY,
            tenant_id    uuid NOT NULL,
            customer_id  uuid NOT NULL,
            requested_at timestamptz NOT NULL,
            services     jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in (*TENANT_TABLES, "connections"):
        op.execute(f"DROP TABLE {table}")
