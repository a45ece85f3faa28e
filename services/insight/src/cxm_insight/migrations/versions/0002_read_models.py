"""Insight's read models and working tables: analyses, metric buckets, taxonomy, labels, alerts, themes, objectives.

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
    "analyses",
    "embeddings",
    "metric_buckets",
    "metric_days",
    "alert_checks",
    "taxonomies",
    "labels",
    "tenant_models",
    "alerts",
    "themes",
    "objectives",
    "reanalyses",
)


def upgrade() -> None:
    # Customer attributes as ingest last published them (segment, agent, team, value): used to group metrics.
    op.execute(
        """
        CREATE TABLE customers (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            merged_into uuid,
            attributes  jsonb NOT NULL DEFAULT '{}',
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # The latest analysis of each feedback; `pii` holds the redacted text sealed with the customer's key.
    op.execute(
        """
        CREATE TABLE analyses (
            feedback_id      uuid PRIMARY KEY,
            tenant_id        uuid NOT NULL,
            customer_id      uuid,
            channel          text NOT NULL,
            source           text NOT NULL,
            touchpoint       text,
            segment          text,
            agent            text,
            team             text,
            value            double precision,
            occurred_at      timestamptz NOT NULL,
            analyzed_at      timestamptz NOT NULL,
            nps              smallint,
            csat             smallint,
            ces              smallint,
            sentiment_label  text NOT NULL,
            sentiment_score  real NOT NULL,
            intent           text NOT NULL,
            urgency          text NOT NULL,
            topics           text[] NOT NULL DEFAULT '{}',
            result           jsonb NOT NULL,
            model_version    text NOT NULL,
            taxonomy_version integer NOT NULL,
            revision         integer NOT NULL,
            pii              jsonb
        )
        """
    )
    op.execute("CREATE INDEX analyses_time ON analyses (tenant_id, occurred_at)")
    op.execute("CREATE INDEX analyses_customer ON analyses (tenant_id, customer_id)")
    op.execute("CREATE INDEX analyses_topics ON analyses USING gin (topics)")
    # Sentence embeddings of the redacted texts (float16), a cache for theme discovery and stories: derived from
    # the text, so not a projection (a replay keeps it) and deleted with the customer on erasure.
    op.execute(
        """
        CREATE TABLE embeddings (
            feedback_id uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            customer_id uuid,
            vector      bytea NOT NULL
        )
        """
    )
    # Additive tallies per UTC hour and dimension (`all`, channel, source, topic, segment, agent, team, intent,
    # touchpoint), and the same per UTC day: every metric is answered from these sums, never by scanning feedback.
    # A day series in another time zone reads the days and moves the few hours that belong to a neighbouring
    # local day.
    op.execute(
        """
        CREATE TABLE metric_buckets (
            tenant_id  uuid NOT NULL,
            dim        text NOT NULL,
            key        text NOT NULL,
            bucket     timestamptz NOT NULL,
            count      integer NOT NULL DEFAULT 0,
            nps_n      integer NOT NULL DEFAULT 0,
            promoters  integer NOT NULL DEFAULT 0,
            detractors integer NOT NULL DEFAULT 0,
            csat_n     integer NOT NULL DEFAULT 0,
            csat_sat   integer NOT NULL DEFAULT 0,
            ces_n      integer NOT NULL DEFAULT 0,
            ces_sum    double precision NOT NULL DEFAULT 0,
            ces_easy   integer NOT NULL DEFAULT 0,
            sent_n     integer NOT NULL DEFAULT 0,
            sent_sum   double precision NOT NULL DEFAULT 0,
            negative   integer NOT NULL DEFAULT 0,
            positive   integer NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, dim, bucket, key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE metric_days (
            tenant_id  uuid NOT NULL,
            dim        text NOT NULL,
            key        text NOT NULL,
            day        date NOT NULL,
            count      integer NOT NULL DEFAULT 0,
            nps_n      integer NOT NULL DEFAULT 0,
            promoters  integer NOT NULL DEFAULT 0,
            detractors integer NOT NULL DEFAULT 0,
            csat_n     integer NOT NULL DEFAULT 0,
            csat_sat   integer NOT NULL DEFAULT 0,
            ces_n      integer NOT NULL DEFAULT 0,
            ces_sum    double precision NOT NULL DEFAULT 0,
            ces_easy   integer NOT NULL DEFAULT 0,
            sent_n     integer NOT NULL DEFAULT 0,
            sent_sum   double precision NOT NULL DEFAULT 0,
            negative   integer NOT NULL DEFAULT 0,
            positive   integer NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, dim, day, key)
        )
        """
    )
    # Buckets touched since the alert detector last looked at them.
    op.execute(
        """
        CREATE TABLE alert_checks (
            tenant_id uuid NOT NULL,
            dim       text NOT NULL,
            key       text NOT NULL,
            bucket    timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, dim, key, bucket)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE taxonomies (
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
        CREATE TABLE labels (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            feedback_id uuid,
            customer_id uuid,
            sentiment   text,
            topics      text[] NOT NULL DEFAULT '{}',
            created_at  timestamptz NOT NULL,
            pii         jsonb
        )
        """
    )
    op.execute("CREATE INDEX labels_tenant ON labels (tenant_id, created_at)")
    # A tenant's trained model is derived state (retrained from the labels), not a projection.
    op.execute(
        """
        CREATE TABLE tenant_models (
            tenant_id   uuid PRIMARY KEY,
            version     integer NOT NULL,
            labels      integer NOT NULL,
            trained_at  timestamptz NOT NULL,
            model       bytea NOT NULL,
            report      jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute(
        """
        CREATE TABLE alerts (
            id          uuid PRIMARY KEY,
            tenant_id   uuid NOT NULL,
            kind        text NOT NULL,
            key         text NOT NULL,
            dedupe_key  text NOT NULL,
            status      text NOT NULL,
            severity    text NOT NULL,
            raised_at   timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            evidence    jsonb NOT NULL,
            UNIQUE (tenant_id, dedupe_key)
        )
        """
    )
    op.execute("CREATE INDEX alerts_status ON alerts (tenant_id, status, raised_at DESC)")
    op.execute(
        """
        CREATE TABLE themes (
            id            uuid PRIMARY KEY,
            tenant_id     uuid NOT NULL,
            key           text NOT NULL,
            status        text NOT NULL,
            size          integer NOT NULL,
            top_terms     text[] NOT NULL,
            feedback_ids  uuid[] NOT NULL,
            example_ids   uuid[] NOT NULL,
            cohesion      real NOT NULL,
            discovered_at timestamptz NOT NULL,
            topic_id      text,
            UNIQUE (tenant_id, key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE objectives (
            tenant_id  uuid NOT NULL,
            version    integer NOT NULL,
            definition jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, version)
        )
        """
    )
    # Re-analysis jobs: resumable by their cursor (occurred_at, feedback_id), throttled by `rate`.
    op.execute(
        """
        CREATE TABLE reanalyses (
            id           uuid PRIMARY KEY,
            tenant_id    uuid NOT NULL,
            since        timestamptz,
            rate         double precision NOT NULL,
            status       text NOT NULL,
            total        integer NOT NULL,
            done         integer NOT NULL DEFAULT 0,
            changed      integer NOT NULL DEFAULT 0,
            cursor_time  timestamptz,
            cursor_id    uuid,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            error        text
        )
        """
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP TABLE {table}")
