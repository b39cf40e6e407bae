"""The web pages: a small static app (HTML, CSS, vanilla JS, one string catalogue per language) served from the
package, which reads and changes everything through the REST API; and the security headers of every answer."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(str(files("simhost.web") / "static"))
PAGES = {"/signin": "signin.html", "/account": "account.html", "/operator": "operator.html"}
# scripts and styles only from files of ours: no inline script or style can run, whatever a message's text holds
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/account", status_code=303)


def _serves(name: str) -> Callable[[], FileResponse]:
    def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})
    return page


for _path, _file in PAGES.items():
    router.add_api_route(_path, _serves(_file), methods=["GET"], response_class=FileResponse)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


class SecurityHeaders:
    """ASGI middleware: the content security policy and its companions on every answer (streams too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)
