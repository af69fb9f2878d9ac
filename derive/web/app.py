"""The Starlette application of ``derive serve``: one static page and the JSON API.

Every ``POST /api/...`` route reads its body (refused with 413 past :data:`derive.web.api.BODY`,
from the ``Content-Length`` or while it streams in), hands it to a worker process
(:class:`derive.web.workers.Workers`) under the time limit :data:`derive.web.api.SECONDS`, and
answers with the worker's JSON, written by the CLI's own :func:`derive.cli.common.dumps`, so
``/api/check`` answers byte for byte what ``derive check --batch`` writes for the same line.
The app keeps no state between requests.

>>> from starlette.testclient import TestClient
>>> with TestClient(create_app(workers=1)) as client:
...     client.post("/api/check", content=b'{"equation": "dZ2 = A2 - Y", "loss": "bce"}').json()["verdict"]
'correct'
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from derive.cli.common import dumps
from derive.web.api import BODY, SECONDS
from derive.web.openapi import document
from derive.web.workers import Timeout, Workers

STATIC = Path(__file__).resolve().parent / "static"

#: the page loads nothing from elsewhere; KaTeX sets inline styles on the maths it builds
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
          "font-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
          "form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

#: route -> the worker function that answers it (JSON routes) or makes the file (downloads)
JSON_ROUTES = {"/api/check": "check", "/api/read": "read", "/api/backward": "backward",
               "/api/numbers": "numbers", "/api/grade": "grade"}
FILE_ROUTES = {"/api/handout": "handout", "/api/stability": "stability_plot"}


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (:class:`TooLarge` beyond, read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(status: int, value: object) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json",
                    headers=HEADERS)


def _error(status: int, message: str, **extra: object) -> Response:
    return _json(status, {"error": message, "status": status, **extra})


def create_app(workers: int = 2, timeout: float = SECONDS.value,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The app: ``workers`` worker processes, ``timeout`` seconds per request, and the
    ``Host`` names it answers (None: any; ``derive serve`` on loopback gives the loopback
    names, which keeps a rebound DNS name from reaching it)."""
    state: dict[str, Workers] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = Workers(workers, timeout)
        await pool.start()
        state["pool"] = pool
        try:
            yield
        finally:
            pool.close()

    async def work(request: Request, name: str) -> tuple[int, object] | Response:
        try:
            body = await read_body(request, BODY.value)
        except TooLarge as exc:
            return _error(413, f"the request body is {exc.args[0]:,} bytes or more, over the "
                               f"limit of {BODY.value:,} bytes ({BODY.name})")
        try:
            return await state["pool"].run(f"derive.web.api:{name}", body)
        except Timeout as exc:
            return _error(504, str(exc), timeout=True)

    def json_route(name: str):
        async def endpoint(request: Request) -> Response:
            answer = await work(request, name)
            return answer if isinstance(answer, Response) else _json(*answer)
        endpoint.__name__ = name
        return endpoint

    def file_route(name: str):
        async def endpoint(request: Request) -> Response:
            answer = await work(request, name)
            if isinstance(answer, Response):
                return answer
            status, value = answer
            if status != 200:
                return _json(status, value)
            assert isinstance(value, tuple)
            filename, media, data = value
            return Response(data, media_type=media, headers={
                **HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})
        endpoint.__name__ = name
        return endpoint

    async def capabilities(request: Request) -> Response:
        return _json(*await state["pool"].run("derive.web.api:capabilities"))

    async def openapi(request: Request) -> Response:
        from derive import __version__

        return JSONResponse(document(__version__), headers=HEADERS)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/capabilities", capabilities, methods=["GET"]),
        *(Route(path, json_route(name), methods=["POST"]) for path, name in JSON_ROUTES.items()),
        *(Route(path, file_route(name), methods=["POST"]) for path, name in FILE_ROUTES.items()),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] \
        if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
