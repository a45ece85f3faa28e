"""DDL for the kit's tables, created in each service's own schema by its first migration."""

from __future__ import annotations

# Rows visible in a transaction: those of the tenant it is scoped to, or all of them for system work ('*').
TENANT_PREDICATE = (
    "current_setting('cxm.tenant_id', true) = '*' OR tenant_id::text = current_setting('cxm.tenant_id', true)"
)


def tenant_rls_ddl(table: str) -> list[str]:
    """DDL that puts a tenant-owned table (with a `tenant_id` column) under row-level security."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
    ]


# The kit's tables as DDL, so a service's first migration creates exactly these (version 1 of the kit).
KIT_DDL_V1 = [
    """
    CREATE TABLE events (
        position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id             uuid        NOT NULL UNIQUE,
        stream_id      text        NOT NULL,
        version        integer     NOT NULL CHECK (version > 0),
        type           text        NOT NULL,
        source         text        NOT NULL,
        tenant_id      uuid        NOT NULL,
        time           timestamptz NOT NULL,
        recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
        correlation_id uuid,
        causation_id   uuid,
        data           jsonb       NOT NULL,
        traceparent    text,
        CONSTRAINT events_stream_version UNIQUE (stream_id, version)
    )
    """,
    "CREATE INDEX events_recorded_at ON events USING brin (recorded_at)",
    # Defence in depth: a runtime role sees only the tenant its transaction is scoped to (see db.set_tenant).
    *tenant_rls_ddl("events"),
    # The outbox holds positions of events not yet published; the relay deletes them once JetStream acks.
    "CREATE TABLE outbox (position bigint PRIMARY KEY)",
    """
    CREATE TABLE inbox (
        consumer     text        NOT NULL,
        event_id     uuid        NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
    """
    CREATE TABLE dead_letters (
        id         uuid        PRIMARY KEY,
        consumer   text        NOT NULL,
        event_id   uuid,
        subject    text        NOT NULL,
        tenant_id  uuid,
        payload    text        NOT NULL,
        headers    jsonb       NOT NULL DEFAULT '{}',
        error      text        NOT NULL,
        deliveries integer     NOT NULL,
        status     varchar(32) NOT NULL DEFAULT 'dead',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE UNIQUE INDEX dead_letters_consumer_event ON dead_letters (consumer, event_id)",
    # Per-customer data keys, wrapped by the master key; a NULL `wrapped` is a destroyed (erased) key.
    """
    CREATE TABLE crypto_keys (
        subject_id   uuid        PRIMARY KEY,
        tenant_id    uuid        NOT NULL,
        wrapped      bytea,
        created_at   timestamptz NOT NULL DEFAULT now(),
        destroyed_at timestamptz
    )
    """,
    *tenant_rls_ddl("crypto_keys"),
    "CREATE INDEX dead_letters_status ON dead_letters (status, consumer)",
]
