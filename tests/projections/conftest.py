"""Fixtures of the projection and API suites: databases (SQLite and PostgreSQL), the API as a
real `zos api serve` subprocess, and a fake node that answers commands.

PostgreSQL comes from `ZOS_TEST_PG` (an admin URL) if set, else 127.0.0.1:5432 if something
answers there, else a throw-away cluster started from /usr/lib/postgresql/*/bin on a free
port; without any of these the PostgreSQL variants skip with the reason. The session
creates its own databases and drops them at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from zos.bus import free_port, wait_for_port
from zos.projections import make_engine, upgrade

REPO = Path(__file__).resolve().parents[2]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _try_admin(urls: list[str]) -> str | None:
    for url in urls:
        try:
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                      isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            return url
        except Exception:  # wrong user or auth: try the next candidate
            continue
    return None


def _throwaway_cluster(tmp: Path) -> tuple[str, Callable[[], None]] | None:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        return None
    bindir = Path(bins[-1]).parent
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        return None
    data = tmp / "pgdata"
    tmp.chmod(0o755)
    data.mkdir()
    os.chown(data, user.pw_uid, user.pw_gid)
    port = free_port()

    def as_postgres(*argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
    subprocess.run(as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
                               "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        subprocess.run(as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def pg_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL of a PostgreSQL server (see the module docstring for where it comes from)."""
    stop = None
    url = os.environ.get("ZOS_TEST_PG")
    if url:
        if not _try_admin([url]):
            pytest.skip(f"ZOS_TEST_PG={url} does not accept connections")
    elif _reachable("127.0.0.1", 5432):
        url = _try_admin([f"postgresql://{u}@127.0.0.1:5432/postgres" for u in ("postgres", "root")])
        if url is None:
            pytest.skip("127.0.0.1:5432 answers but neither user postgres nor root may connect; "
                        "set ZOS_TEST_PG")
    else:
        started = _throwaway_cluster(tmp_path_factory.mktemp("pg"))
        if started is None:
            pytest.skip("no PostgreSQL: ZOS_TEST_PG unset, nothing on 127.0.0.1:5432 and no "
                        "/usr/lib/postgresql/*/bin/initdb (Debian package postgresql)")
        url, stop = started
    try:
        yield url
    finally:
        if stop:
            stop()


@pytest.fixture(scope="session")
def pg_databases(pg_admin: str) -> Iterator[Callable[[], str]]:
    """Call it for the URL of a new, empty database; all are dropped at session end."""
    admin = sa.create_engine(pg_admin.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    made: list[str] = []
    prefix = f"zos_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    def make() -> str:
        name = f"{prefix}_{len(made)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return pg_admin.rsplit("/", 1)[0] + "/" + name
    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of empty database URLs of the parametrized kind."""
    if request.param == "sqlite":
        count = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path / f'proj{next(count)}.db'}"
    return request.getfixturevalue("pg_databases")


@pytest.fixture
def db_url(new_db: Callable[[], str]) -> str:
    return new_db()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def start_fake_node(nats_url: str, node: str) -> subprocess.Popen:
    """The simulator as a subprocess; its output goes to a log file named in failures."""
    log = Path(tempfile.gettempdir()) / f"zos-{node}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.projections._fake_node", nats_url, node],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"fake node did not start: {log.read_text()}")
        time.sleep(0.05)
    return proc


@pytest.fixture
def fake_node(nats_url: str) -> Iterator[str]:
    """The id of a fresh fake node answering commands on the test broker."""
    node = f"fake-{uuid.uuid4().hex[:8]}"
    proc = start_fake_node(nats_url, node)
    try:
        yield node
    finally:
        proc.terminate()
        proc.wait(15)


def start_api(env: dict[str, str], db: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "zos", "api", "serve", "--db", db, "--port", str(port),
                             *extra], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port("127.0.0.1", port, 60, proc)
    except Exception:
        proc.kill()
        raise RuntimeError(f"zos api serve did not start: {proc.stderr.read()}") from None
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def dump_tables(engine: sa.Engine, names: list[str]) -> dict[str, list[dict]]:
    """Every row of each table ordered by primary key: what 'equal tables' compares."""
    from zos.projections import metadata

    out = {}
    with engine.connect() as conn:
        for name in names:
            table = metadata.tables[name]
            order = list(table.primary_key.columns)
            out[name] = [dict(r) for r in conn.execute(sa.select(table).order_by(*order)).mappings()]
    return out

