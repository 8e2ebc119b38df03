"""Fixtures of the durable-run tests: the fake provider server, and a way to run the app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reliability.fakeserver import FakeServer

APP = Path(__file__).with_name("app.py")
TESTS = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeServer) -> Iterator[FakeServer]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@dataclass
class App:
    """Launches tests/durable/app.py as a process with one configuration."""

    config: dict[str, Any]
    dir: Path

    def _start(self, **changes: Any) -> subprocess.Popen[str]:
        config = {**self.config, **changes}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "src")])}
        env["EXO_HOME"] = str(self.dir / "home")
        return subprocess.Popen(
            [sys.executable, str(APP), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def kill_at_marker(self, **changes: Any) -> str:
        """Start the app, SIGKILL it once it writes its marker; return what the marker says."""
        marker = self.dir / "marker"

        def written() -> bool:  # the file exists before its text is in it (write_text)
            return marker.exists() and marker.stat().st_size > 0

        self.kill_when(written, **changes)
        return marker.read_text()

    def kill_when(self, reached: Callable[[], bool], **changes: Any) -> None:
        """Start the app and SIGKILL it as soon as ``reached()`` is true."""
        proc = self._start(**changes)
        deadline = time.monotonic() + 120  # a hang fails the test instead of blocking CI
        while not reached():
            if proc.poll() is not None:
                raise AssertionError(f"the app ended before its marker: {proc.stderr.read()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("the app never reached its marker")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

    def finish(self, **changes: Any) -> dict[str, Any]:
        """Run the app to its end; return the result it printed."""
        proc = self._start(**changes)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def keys(self) -> list[str]:
        path = self.dir / "keys.log"
        return path.read_text().splitlines() if path.exists() else []


SQLITE = pytest.param("sqlite", id="sqlite")
POSTGRES = pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=[SQLITE, POSTGRES])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """DBOS's system database: a SQLite file, or a fresh schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite:///{tmp_path / 'dbos.db'}"}
        return
    dsn = os.environ.get("EXO_TEST_POSTGRES_DSN", "")
    if not dsn:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("EXO_TEST_POSTGRES_DSN is not set but CI=true", pytrace=False)
        pytest.skip("PostgreSQL durable tests need EXO_TEST_POSTGRES_DSN")
    schema = f"exo_durable_{uuid.uuid4().hex[:12]}"  # DBOS creates it on launch
    yield {"database_url": dsn, "schema": schema}
    _admin(dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _admin(dsn: str, statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(
        dsn.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def make_app(tmp_path: Path, server: FakeServer, database: dict[str, str], **config: Any) -> App:
    config = {
        "dir": str(tmp_path),
        "base_url": f"{server.url}/v1",
        **database,
        "run_id": "run-1",
        **config,
    }
    return App(config=config, dir=tmp_path)
