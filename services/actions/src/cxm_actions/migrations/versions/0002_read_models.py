"""Actions' read models: action items, rules and playbooks, impact results, and the facts they are built from.

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
    "actions",
    "rules",
    "playbooks",
    "impacts",
    "feedback_facts",
    "interaction_facts",
    "risks",
    "profiles",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE actions (
            id                uuid PRIMARY KEY,
            tenant_id         uuid NOT NULL,
            kind              text NOT NULL,
            title             text NOT NULL,
            description       text NOT NULL DEFAULT '',
            status            text NOT NULL,
            priority          text NOT NULL,
            owner             text,
            team              text,
            due_at            timestamptz,
            customer_id       uuid,
            links             jsonb NOT NULL DEFAULT '{}',
            root_cause        text,
            dedupe_key        text,
            rule_id           text,
            play_id           text,
            suggestion        text,
            suggestion_used   boolean,
            created_at        timestamptz NOT NULL,
            updated_at        timestamptz NOT NULL,
            first_response_at timestamptz,
            resolved_at       timestamptz,
            breached_at       timestamptz
        )
        """
    )
    op.execute("CREATE INDEX actions_status ON actions (tenant_id, status, created_at DESC)")
    op.execute("CREATE INDEX actions_customer ON actions (tenant_id, customer_id)")
    op.execute("CREATE INDEX actions_due ON actions (due_at) WHERE breached_at IS NULL AND resolved_at IS NULL")
    # One open item per customer / theme: the automation's de-duplication holds even under concurrent triggers.
    op.execute(
        "CREATE UNIQUE INDEX actions_open_dedupe ON actions (tenant_id, dedupe_key) "
        "WHERE dedupe_key IS NOT NULL AND status IN ('open', 'acknowledged', 'in_progress')"
    )
    for table in ("rules", "playbooks"):
        op.execute(
            f"""
            CREATE TABLE {table} (
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
        CREATE TABLE impacts (
            action_id   uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            measured_at timestamptz NOT NULL,
            result      jsonb NOT NULL
        )
        """
    )
    # Facts from insight, journey and ingest, kept by the consumers (not projections: a replay leaves them).
    op.execute(
        """
        CREATE TABLE feedback_facts (
            feedback_id     uuid PRIMARY KEY,
            tenant_id       uuid NOT NULL,
            customer_id     uuid,
            occurred_at     timestamptz NOT NULL,
            channel         text,
            nps             smallint,
            csat            smallint,
            sentiment_label text,
            sentiment_score real,
            intent          text,
            topics          text[] NOT NULL DEFAULT '{}',
            revision        integer NOT NULL,
            pii             jsonb
        )
        """
    )
    op.execute("CREATE INDEX feedback_facts_customer ON feedback_facts (tenant_id, customer_id, occurred_at)")
    op.execute("CREATE INDEX feedback_facts_time ON feedback_facts (tenant_id, occurred_at)")
    op.execute(
        """
        CREATE TABLE interaction_facts (
            step_id     text PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            customer_id uuid NOT NULL,
            at          timestamptz NOT NULL,
            name        text,
            channel     text,
            stage       text
        )
        """
    )
    op.execute("CREATE INDEX interaction_facts_customer ON interaction_facts (tenant_id, customer_id, at)")
    op.execute("CREATE INDEX interaction_facts_stage ON interaction_facts (tenant_id, stage, at)")
    op.execute(
        """
        CREATE TABLE risks (
            customer_id uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            score       real NOT NULL,
            level       text NOT NULL,
            reasons     jsonb NOT NULL,
            at          timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE profiles (
            customer_id uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            value       double precision,
            segment     text,
            team        text,
            owner       text
        )
        """
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP TABLE {table}")
