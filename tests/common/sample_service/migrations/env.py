"""Alembic environment: migrations run in this service's own schema (see cxm_common.migrations)."""

from alembic import context

from cxm_common.migrations import run_env

run_env(context)
