"""Journey's read models: customers, steps, visits, transition counts, stage maps, risk, friction, re-derivations.

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
    "profiles",
    "customers",
    "steps",
    "visits",
    "transition_days",
    "stage_maps",
    "friction",
    "rederivations",
)


def upgrade() -> None:
    # Customers' attributes as ingest last published them (kept by the consumer; a replay leaves them).
    op.execute(
        """
        CREATE TABLE profiles (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            segment     text,
            value       double precision,
            merged_into uuid,
            updated_at  timestamptz NOT NULL
        )
        """
    )
    # One row per customer: where the journey stands and the risk of losing them.
    op.execute(
        """
        CREATE TABLE customers (
            id            uuid PRIMARY KEY,
            tenant_id     uuid NOT NULL,
            segment       text,
            current_stage text,
            path          text,
            first_seen    timestamptz,
            last_seen     timestamptz,
            risk_score    real,
            risk_level    text,
            risk_reasons  jsonb NOT NULL DEFAULT '[]',
            risk_at       timestamptz,
            erased        boolean NOT NULL DEFAULT false
        )
        """
    )
    op.execute("CREATE INDEX customers_risk ON customers (tenant_id, risk_score DESC)")
    # Every interaction and feedback on a customer's timeline, ordered by when it happened (not when it arrived).
    op.execute(
        """
        CREATE TABLE steps (
            id              text PRIMARY KEY,
            tenant_id       uuid NOT NULL,
            customer_id     uuid NOT NULL,
            at              timestamptz NOT NULL,
            kind            text NOT NULL,
            name            text,
            channel         text,
            touchpoint      text,
            stage           text,
            nps             smallint,
            csat            smallint,
            ces             smallint,
            sentiment_score real,
            sentiment_label text,
            intent          text,
            topics          text[] NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute("CREATE INDEX steps_customer ON steps (tenant_id, customer_id, at)")
    op.execute("CREATE INDEX steps_name ON steps (tenant_id, name, customer_id, at)")
    op.execute("CREATE INDEX steps_stage ON steps (tenant_id, stage, customer_id, at)")
    op.execute("CREATE INDEX steps_time ON steps (tenant_id, at)")
    # A customer's stays in stages, recomputed from their ordered steps whenever one arrives (late ones included).
    op.execute(
        """
        CREATE TABLE visits (
            tenant_id   uuid NOT NULL,
            customer_id uuid NOT NULL,
            seq         integer NOT NULL,
            stage       text NOT NULL,
            entered_at  timestamptz NOT NULL,
            exited_at   timestamptz,
            next_stage  text,
            segment     text NOT NULL DEFAULT '',
            PRIMARY KEY (tenant_id, customer_id, seq)
        )
        """
    )
    op.execute("CREATE INDEX visits_stage ON visits (tenant_id, stage, entered_at)")
    # Stage-to-stage transitions per UTC day and segment: the edges of a Sankey diagram without scanning visits.
    op.execute(
        """
        CREATE TABLE transition_days (
            tenant_id  uuid NOT NULL,
            day        date NOT NULL,
            from_stage text NOT NULL,
            to_stage   text NOT NULL,
            segment    text NOT NULL DEFAULT '',
            count      integer NOT NULL,
            PRIMARY KEY (tenant_id, day, from_stage, to_stage, segment)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE stage_maps (
            tenant_id  uuid NOT NULL,
            version    integer NOT NULL,
            definition jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, version)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE friction (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            kind        text NOT NULL,
            key         text NOT NULL,
            impact      double precision NOT NULL,
            detected_at timestamptz NOT NULL,
            evidence    jsonb NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX friction_latest ON friction (tenant_id, kind, key, detected_at DESC)")
    op.execute(
        """
        CREATE TABLE rederivations (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            version     integer NOT NULL,
            status      text NOT NULL,
            total       integer NOT NULL,
            done        integer NOT NULL DEFAULT 0,
            cursor_id   uuid,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL
        )
        """
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP TABLE {table}")
