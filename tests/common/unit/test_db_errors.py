"""Which database errors mean "the database is unavailable, retry" rather than "the input is wrong"."""

from __future__ import annotations

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from cxm_common.db import is_transient_db_error


def _adapter_error(cause: BaseException) -> Exception:
    error = AsyncAdapt_asyncpg_dbapi.Error(str(cause))
    error.__cause__ = cause
    return error


def test_the_adapters_own_error_over_a_dropped_connection_is_transient() -> None:
    dropped = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    assert is_transient_db_error(_adapter_error(dropped))
    assert is_transient_db_error(_adapter_error(asyncpg.exceptions.InterfaceError("connection is closed")))


def test_the_adapters_own_error_over_a_bad_statement_is_not() -> None:
    assert not is_transient_db_error(_adapter_error(asyncpg.exceptions.UniqueViolationError("duplicate key")))
    assert not is_transient_db_error(AsyncAdapt_asyncpg_dbapi.Error("no cause"))


def test_a_server_shutting_down_or_starting_up_is_transient() -> None:
    assert is_transient_db_error(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert is_transient_db_error(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
