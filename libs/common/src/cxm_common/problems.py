"""RFC 9457 problem details for every error a service returns, and the strict JSON body route."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cxm_common.auth import InvalidInternalToken, MissingScope
from cxm_common.db import DATABASE_ERRORS, is_transient_db_error

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build an `application/problem+json` response."""
    body = {"type": type_, "title": title or _TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette names only the first route that matched the path; a path may have one route per method.
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        probe: dict[str, Any] = {
            "type": "http",
            "path": request.url.path,
            "root_path": "",
            "method": method,
            "headers": [],
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _validation_errors(exc: RequestValidationError) -> tuple[int, str, list[dict[str, Any]]]:
    errors = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        errors.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    if malformed:
        return 400, "The body is not valid JSON.", errors
    return 422, "The request does not match the schema.", errors


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem document; a database outage is a 503 with `Retry-After`."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(exc.status_code, str(exc.detail), headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        status, detail, errors = _validation_errors(exc)
        return problem(status, detail, errors=errors)

    @app.exception_handler(InvalidInternalToken)
    async def untrusted(_: Request, exc: InvalidInternalToken) -> Response:
        return problem(401, "Requests must come through the gateway.")

    @app.exception_handler(MissingScope)
    async def missing_scope(_: Request, exc: MissingScope) -> Response:
        return problem(403, str(exc))

    async def database_error(request: Request, exc: Exception) -> Response:
        if is_transient_db_error(exc):
            log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
            return problem(503, "The database is unavailable; retry shortly.", headers={"Retry-After": "2"})
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "Internal error; it has been logged.")

    # Database errors get handlers of their own class: Starlette answers those inside the app, whereas a handler
    # for `Exception` answers and then re-raises to the server, which logs a traceback and closes the connection
    # (a client reusing it would see a reset instead of the 503).
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return await database_error(request, exc)


class StrictJsonRequest(Request):
    """A request whose JSON body is parsed strictly: no NaN/Infinity, no invalid UTF-8, no NUL characters."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise json.JSONDecodeError(exc.msg, body.decode("utf-8", "replace"), exc.pos) from exc
            if b"\\u0000" in body and _contains_nul(parsed):
                # Postgres text cannot hold NUL; refusing it here keeps a client's mistake a 400.
                raise json.JSONDecodeError("NUL characters (\\u0000) are not accepted", "", body.find(b"\\u0000"))
            self._json = parsed
        return self._json


def _scopes_of(dependant: Any) -> list[str]:
    found = []
    stack = [dependant]
    while stack:
        node = stack.pop()
        scope = getattr(node.call, "cxm_scope", None)
        if scope:
            found.append(scope)
        stack.extend(node.dependencies)
    return found


def _contains_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class StrictJsonRoute(APIRoute):
    """A route that parses JSON strictly, answers 415 to a body that is not JSON, and documents its scope."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scopes = _scopes_of(self.dependant)
        if scopes:
            # `x-cxm-scope` lets clients (and the tenancy walk in the tests) know what each operation needs.
            self.openapi_extra = {**(self.openapi_extra or {}), "x-cxm-scope": scopes[0]}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_json = self.body_field is not None

        async def strict(request: Request) -> Response:
            # Postgres text cannot hold NUL: in a path or query value it is the client's mistake, never a 500.
            if any("\x00" in v for v in request.query_params.values()) or any(
                "\x00" in str(v) for v in request.path_params.values()
            ):
                raise HTTPException(422, "NUL characters are not accepted in the path or query.")
            if expects_json and request.method in ("POST", "PUT", "PATCH"):
                content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if content_type and content_type != "application/json" and not content_type.endswith("+json"):
                    raise HTTPException(415, f"Send application/json, not {content_type}.")
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
