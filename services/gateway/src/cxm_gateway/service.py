"""The gateway as the runtime sees it: tenants and keys in its own schema, and the edge in front of everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from cxm_common.auth import principal_of
from cxm_common.service import Runtime, ServiceSpec
from cxm_gateway import api, queries, stream
from cxm_gateway.authn import KeyCache
from cxm_gateway.config import Settings
from cxm_gateway.openapi import MergedDocument
from cxm_gateway.projections import TENANTS_AND_KEYS
from cxm_gateway.proxy import Edge, Upstream

CONSOLE_DIR = Path(__file__).parent / "console"


def configure(runtime: Runtime, app: FastAPI) -> None:
    """Put the edge in front of the app, and add the stream, the merged API document and the docs."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    keys = KeyCache(lambda lookup: queries.key_by_lookup(runtime.engine, lookup), ttl_s=settings.key_cache_ttl_s)
    app.state.keys = keys
    upstream = Upstream(settings)
    runtime.on_close.append(upstream.close)

    def stream_principal(token: str) -> Any:
        return stream.verify_stream_token(settings.internal_token_secret, token)

    for route in list(app.router.routes):
        if getattr(route, "path", None) in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            app.router.routes.remove(route)

    async def fetch(url: str) -> dict[str, Any] | None:
        try:
            async with upstream.session().get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
                return await response.json() if response.status == 200 else None  # type: ignore[no-any-return]
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    def own_document() -> dict[str, Any]:
        app.openapi_schema = None
        return app.openapi()

    document = MergedDocument(own_document, _upstreams(settings), fetch)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> Response:
        return Response(await document.render(), media_type="application/json")

    import swagger_ui_bundle

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="cxm API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    @app.get("/console", include_in_schema=False)
    async def console() -> RedirectResponse:
        """The console lives under `/console/`, so that its relative URLs resolve."""
        return RedirectResponse("/console/", status_code=308)

    # The reference console: static files, no key needed to load them; every API call it makes carries the key.
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.post(
        "/v1/stream/tokens",
        status_code=201,
        response_model=api.StreamTokenOut,
        tags=["live"],
        summary="A short-lived token for EventSource",
    )
    async def stream_token(request: Request) -> api.StreamTokenOut:
        principal = principal_of(request)
        stream.require_stream_scope(principal)
        ttl = int(settings.stream_token_ttl_s)
        return api.StreamTokenOut(
            token=stream.issue_stream_token(settings.internal_token_secret, principal, ttl), expires_in=ttl
        )

    @app.get(
        "/v1/stream",
        tags=["live"],
        summary="The tenant's events as Server-Sent Events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def live(
        request: Request, token: str | None = None, last_event_id: str | None = Header(default=None)
    ) -> StreamingResponse:
        principal = principal_of(request)
        stream.require_stream_scope(principal)
        positions = stream.parse_event_id(last_event_id)
        if runtime.js is None or runtime.nc is None or not runtime.nc.is_connected:
            raise HTTPException(503, "The event stream is unavailable; retry shortly.", headers={"Retry-After": "2"})
        frames = stream.events(
            runtime.js,
            principal,
            prefix=settings.nats_prefix,
            last_event_id=positions,
            heartbeat_s=settings.stream_heartbeat_s,
            resume_window_s=settings.stream_resume_window_s,
        )
        return StreamingResponse(
            frames, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    app.add_middleware(Edge, settings=settings, upstream=upstream, keys=keys, stream_principal=stream_principal)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "Last-Event-ID",
                "X-Request-Id",
            ],
            expose_headers=["X-Request-Id", "ETag", "Retry-After", "Location"],
            max_age=600,
        )


def _upstreams(settings: Settings) -> dict[str, str]:
    return {
        "ingest": settings.ingest_url.rstrip("/"),
        "insight": settings.insight_url.rstrip("/"),
        "journey": settings.journey_url.rstrip("/"),
        "actions": settings.actions_url.rstrip("/"),
    }


SPEC = ServiceSpec(
    name="gateway",
    title="cxm gateway",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8080,
    routers=api.routers,
    projections=lambda: [TENANTS_AND_KEYS],
    publishes=True,
    trusts_gateway=False,
    configure=configure,
)
