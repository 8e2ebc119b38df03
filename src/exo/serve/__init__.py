"""Serve agents over HTTP: exo's run API, the run viewer page, and standard wire formats.

Install ``exo-agents[serve]`` (Starlette, uvicorn, sse-starlette); ``exo serve AGENT`` runs it,
``exo.serve.app(agents)`` returns the ASGI app to mount in your own. See docs/serve.md.
"""

from __future__ import annotations

from exo.serve.app import DEFAULT_MAX_BODY_BYTES, app

__all__ = ["DEFAULT_MAX_BODY_BYTES", "app"]
