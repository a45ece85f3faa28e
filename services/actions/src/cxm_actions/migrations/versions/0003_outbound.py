"""Outbound webhooks: subscriptions (a read model of their events), deliveries and their attempts.

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
    # Projected from `actions.subscription.*`; `secret` is the sealed section of the created event.
    op.execute(
        """
        CREATE TABLE subscriptions (
            id              uuid PRIMARY KEY,
            tenant_id       uuid NOT NULL,
            url             text NOT NULL,
            event_types     text[] NOT NULL,
            description     text,
            secret          jsonb NOT NULL,
            status          text NOT NULL DEFAULT 'active',
            disabled_reason text,
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, created_at) WHERE status <> 'deleted'")
    # No foreign key to `subscriptions`: a replay truncates that read model, and the log must survive it.
    op.execute(
        """
        CREATE TABLE deliveries (
            id               uuid PRIMARY KEY,
            tenant_id        uuid NOT NULL,
            subscription_id  uuid NOT NULL,
            event_id         uuid NOT NULL,
            event_type       text NOT NULL,
            payload          text,
            status           text NOT NULL DEFAULT 'pending',
            attempts         integer NOT NULL DEFAULT 0,
            next_attempt_at  timestamptz,
            last_attempt_at  timestamptz,
            last_status_code smallint,
            last_error       text,
            delivered_at     timestamptz,
            created_at       timestamptz NOT NULL,
            CONSTRAINT deliveries_subscription_event UNIQUE (subscription_id, event_id)
        )
        """
    )
    op.execute("CREATE INDEX deliveries_due ON deliveries (subscription_id, next_attempt_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX deliveries_log ON deliveries (subscription_id, created_at DESC, id DESC)")
    op.execute("CREATE INDEX deliveries_done ON deliveries (created_at) WHERE status <> 'pending'")
    op.execute(
        """
        CREATE TABLE delivery_attempts (
            delivery_id  uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
            attempt      integer NOT NULL,
            tenant_id    uuid NOT NULL,
            attempted_at timestamptz NOT NULL,
            status_code  smallint,
            error        text,
            duration_ms  integer,
            PRIMARY KEY (delivery_id, attempt)
        )
        """
    )
    for table in ("subscriptions", "deliveries", "delivery_attempts"):
        enable_tenant_rls(op, table)


def downgrade() -> None:
    op.execute("DROP TABLE delivery_attempts")
    op.execute("DROP TABLE deliveries")
    op.execute("DROP TABLE subscriptions")
