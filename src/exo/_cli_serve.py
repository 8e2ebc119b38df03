"""``exo serve``: serve agents over HTTP, with the run viewer at ``/`` (``exo-agents[serve]``).

    exo serve examples/researcher.py                       # http://127.0.0.1:8000/
    EXO_SERVE_TOKEN=... exo serve a.py:agent b.yaml --host 0.0.0.0 --port 9000

The server's libraries (Starlette, uvicorn) are imported only when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from exo.errors import ConfigError

__all__ = ["check_bind", "register"]


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises:
        ConfigError: ``host`` is not a loopback address and there is no token.
    """
    from exo.serve._guard import is_loopback

    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host!r} without a token: anyone who can reach it could "
            "run your agents",
            parameter="token",
            hint="set EXO_SERVE_TOKEN (or pass --token), or listen on 127.0.0.1",
        )


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``exo`` CLI."""
    app.command("serve")(serve_command)


def serve_command(
    agents: Annotated[
        list[str],
        typer.Argument(
            metavar="AGENT [AGENT ...]",
            help="file.py[:attr], module[:attr] or an agent .yaml/.toml file, as for `exo run`.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="EXO_SERVE_TOKEN",
            show_envvar=True,
            help="The bearer token every request must carry (required off loopback).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Where conversations and runs are kept: a SQLite path or a postgresql:// URL "
            "(default: exo's memory file).",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="An origin allowed to call the API (repeatable)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Serve agents over HTTP: exo's run API, the run viewer page, and the wire formats."""
    from exo._cli_agents import check_backends, load_agent
    from exo.cli import _console, _reporting

    err = _console(stderr=True)
    with _reporting(err, debug):
        try:
            import uvicorn

            from exo.serve import app
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"exo serve needs the [serve] extra ({exc.name} is not installed)",
                hint="pip install 'exo-agents[serve]'",
            ) from None
        token = token or None
        check_bind(host, token)
        loaded = [load_agent(reference) for reference in agents]
        for agent in loaded:
            check_backends(agent)
        application = app(loaded, token=token, database_url=database_url, cors_origins=cors_origin)
        shown = f"[{host}]" if ":" in host else host
        names = ", ".join(a.name for a in loaded)
        err.print(f"[bold]exo serve[/]: {names} on http://{shown}:{port}/")
        if token:
            err.print("  [dim]the viewer asks for the token once (or open /?token=<token>)[/]")
        uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=True)
