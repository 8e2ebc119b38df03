"""The server's front door: authentication, the loopback rule, and the request size limit.

* With a token, every request but ``GET /healthz`` must carry it: ``Authorization: Bearer
  <token>`` (API clients), or the viewer's session cookie. A browser gets the cookie by
  opening ``/?token=<token>`` once (it is redirected to ``/`` without the token in the
  address) or by typing the token into the login form ``/`` shows. The cookie is HttpOnly,
  SameSite=Strict, and holds an HMAC of the token, not the token. Requests that change
  something (not GET/HEAD) authenticated by the cookie must also carry ``X-Exo-Viewer: 1``,
  which a cross-site form cannot send (defence in depth beside SameSite).
* Without a token the app answers only requests that reached it on a loopback address and
  name a loopback host (``Host: localhost``/``127.0.0.1``/``[::1]``): a page elsewhere cannot
  reach it through DNS rebinding, and an app mounted on a public interface refuses everyone.
* Without a token, a request that changes something (not GET/HEAD/OPTIONS) sent by a web
  page of another origin is refused (403 ``cross_origin``) unless its origin is one of
  ``cors_origins``: the ``Origin`` header (or, without one, ``Sec-Fetch-Site``) must name
  this server. Else any page the user visits could post a form or a ``fetch(...,
  {mode: "no-cors"})`` to a tokenless server on 127.0.0.1 and start runs with its tools.
* A body larger than ``max_body_bytes`` is refused with 413: at once when Content-Length says
  so, else as soon as the bytes read pass the limit.
* Every response carries ``nosniff``, ``no-referrer`` and a Content-Security-Policy allowing
  only this server's own files, so no response (a JSON error echoing a value, a static file)
  can be run as a page.

Tokens are compared with :func:`hmac.compare_digest`, never echoed, never logged: a
``token=`` in a logged URL (uvicorn's access log of ``/?token=...``) is redacted by
:class:`RedactToken`, which :func:`install_log_redaction` puts on uvicorn's loggers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable
from http.cookies import SimpleCookie
from importlib import resources
from urllib.parse import parse_qs

from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exo.serve._hub import BodyTooLarge, Hub, error_response

__all__ = [
    "COOKIE",
    "SECURITY_HEADERS",
    "Guard",
    "RedactToken",
    "install_log_redaction",
    "is_loopback",
]

COOKIE = "exo_session"
OPEN_PATHS = frozenset({"/healthz", "/static/viewer.css"})
"""Answered without the token: the health check, and the stylesheet the sign-in page (shown
to a browser that has no session yet) needs. Neither holds anything of a run."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
"""Headers on every response (see the module docstring)."""

_TOKEN_IN_URL = re.compile(r"(?i)([?&]token=)[^&\s\"]*")


class RedactToken(logging.Filter):
    """Replace the value of ``token=`` in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = _TOKEN_IN_URL.sub(r"\1<redacted>", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def install_log_redaction(names: Iterable[str] = ("uvicorn.access", "uvicorn.error")) -> None:
    """Put :class:`RedactToken` on the named loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) for f in logger.filters):
            logger.addFilter(RedactToken())


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8000`` → ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware enforcing the rules of the module docstring.

    Args:
        app: The app behind the door.
        hub: For counting errors and the body limit.
        token: The bearer token, or ``None`` (loopback only).
        cors_origins: Origins whose pages may call the API (besides this server's own).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hub: Hub,
        token: str | None,
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hub = hub
        self.token = token
        self.origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self.session = (
            hmac.new(token.encode(), b"exo-serve-viewer-session", hashlib.sha256).hexdigest()
            if token
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        send = _secured(send)
        refusal = self._check(scope, headers)
        if refusal is None and self.token is not None:
            refusal = await self._authenticate(scope, receive, headers)
        if refusal is None and self.token is None:
            refusal = self._check_origin(scope, headers)
        if refusal is None:
            refusal = self._check_size(headers)
        if refusal is not None:
            if refusal.status_code >= 400:
                self.hub.metrics.error(refusal.status_code)
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _check_origin(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """Refuse a change sent by another origin's page, for an app without a token (with
        one, a page needs the token or the viewer's SameSite cookie and its header, which
        another origin's page cannot send without CORS)."""
        if scope["method"] in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None:
            foreign = headers.get("sec-fetch-site") in ("cross-site", "same-site")
        else:
            origin = origin.rstrip("/").lower()
            host = headers.get("host", "").lower()
            own = {f"http://{host}", f"https://{host}"}
            foreign = origin not in own and origin not in self.origins
        if not foreign:
            return None
        return error_response(
            403,
            f"refused a request sent by a page of another origin ({origin or 'cross-site'}); "
            "pages of other origins may call this server only if it names them "
            "(--cors-origin, or cors_origins= of exo.serve.app)",
            "permission_error",
            "cross_origin",
        )

    def _check(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """The loopback rule, for an app without a token."""
        if self.token is not None:
            return None
        server = scope.get("server")
        local = server is None or is_loopback(str(server[0]))  # None: a unix socket
        if local and is_loopback(_host_name(headers.get("host", "localhost"))):
            return None
        return error_response(
            403,
            "this server has no token, so it answers only http://127.0.0.1 or "
            "http://localhost on this machine",
            "permission_error",
            "loopback_only",
        )

    def _check_size(self, headers: dict[str, str]) -> Response | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.hub.max_body_bytes:
            error = BodyTooLarge(self.hub.max_body_bytes)
            return error_response(error.status, error.message, error.type, error.code)
        return None

    def _limited(self, receive: Receive) -> Receive:
        limit, seen = self.hub.max_body_bytes, 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited

    async def _authenticate(
        self, scope: Scope, receive: Receive, headers: dict[str, str]
    ) -> Response | None:
        path, method = scope["path"], scope["method"]
        if path in OPEN_PATHS:
            return None
        if self._bearer_ok(headers.get("authorization", "")):
            return None
        cookie_ok = self._cookie_ok(headers.get("cookie", ""))
        if cookie_ok and (method in _SAFE_METHODS or headers.get("x-exo-viewer") == "1"):
            return None
        if path == "/" and method == "GET":
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            if given and self._token_ok(given[0]):
                return self._login(scope)
            return _login_page(failed=bool(given))
        if path == "/login" and method == "POST":
            return await self._form_login(scope, receive)
        return error_response(
            401,
            "missing or wrong token: send the header 'Authorization: Bearer <token>' "
            "(the server's --token or EXO_SERVE_TOKEN)",
            "authentication_error",
            "invalid_token",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _token_ok(self, given: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _bearer_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self._token_ok(value.strip())

    def _cookie_ok(self, header: str) -> bool:
        if not header or self.session is None:
            return False
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(header)
        except Exception:  # a malformed Cookie header authenticates nobody
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self.session)

    def _login(self, scope: Scope) -> Response:
        """Set the session cookie and send the browser to the viewer."""
        assert self.session is not None
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.session,
            httponly=True,
            samesite="strict",
            secure=scope.get("scheme") == "https",
            path="/",
        )
        return response

    async def _form_login(self, scope: Scope, receive: Receive) -> Response:
        body, more = b"", True
        while more and len(body) <= 4096:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        given = parse_qs(body[:4096].decode("utf-8", "replace")).get("token", [""])[0]
        if given and self._token_ok(given):
            return self._login(scope)
        return _login_page(failed=True)


def _secured(send: Send) -> Send:
    """``send`` adding :data:`SECURITY_HEADERS` to the response (those it does not set)."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message = {**message, "headers": headers}
        await send(message)

    return secured


def _login_page(*, failed: bool) -> Response:
    html = resources.files("exo.serve").joinpath("static/login.html").read_text("utf-8")
    note = '<p class="failed">That token is not right.</p>' if failed else ""
    return HTMLResponse(html.replace("<!--note-->", note), status_code=401)
