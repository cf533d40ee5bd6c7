"""The PostgreSQL server the benchmark runs on: the one the PG* variables point at when it
answers, else a scratch cluster started for the benchmark's duration."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostgresServer:
    """The server the benchmark runs on: PG* variables, a description, and (for a scratch
    cluster on this machine) the postmaster's pid, whose process tree is sampled for memory."""

    env: dict[str, str]
    description: str
    postmaster_pid: int | None = None


def server_connection(env: dict[str, str], dbname: str | None = None) -> Any:
    """A psycopg2 connection to the server the PG* variables in env name (to database dbname,
    default PGDATABASE)."""
    import psycopg2

    return psycopg2.connect(
        host=env.get("PGHOST", "localhost"), port=env.get("PGPORT", "5432"),
        user=env.get("PGUSER", "postgres"), password=env.get("PGPASSWORD", ""),
        dbname=dbname or env.get("PGDATABASE", "health"), connect_timeout=3,
    )


@contextmanager
def database_of_its_own(env: dict[str, str]) -> Iterator[None]:
    """Database PGDATABASE of env created anew on the server, and dropped afterwards."""
    database = env["PGDATABASE"]

    def admin(statement: str) -> None:
        connection = server_connection(env, "postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    admin(f"drop database if exists {database}")
    admin(f"create database {database}")
    try:
        yield
    finally:
        admin(f"drop database if exists {database}")


def reachable_postgres(env: dict[str, str]) -> str | None:
    """The server version when the PG* variables in env point at a server that answers."""
    if not any(env.get(name) for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")):
        return None
    import psycopg2

    try:
        with server_connection(env) as connection, connection.cursor() as cursor:
            cursor.execute("show server_version")
            return str(cursor.fetchone()[0])
    except psycopg2.Error as error:
        log.warning("the PG* variables point at no server that answers (%s)",
                    str(error).strip().splitlines()[0])
        return None


def find_postmaster(port: str) -> int | None:
    """Pid of the local postmaster started with `-p <port>` (a scratch cluster), if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        port_at = args.index(b"-p") + 1 if b"-p" in args else len(args)
        if args[0].endswith(b"/postgres") and args[port_at:port_at + 1] == [port.encode()]:
            return int(entry.name)
    return None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server the PG* variables point at if one answers, else a scratch cluster."""
    version = reachable_postgres(dict(os.environ))
    if version:
        env = {name: os.environ[name] for name in
               ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE") if name in os.environ}
        yield PostgresServer(env, f"PostgreSQL {version} from the PG* variables "
                             f"({env.get('PGHOST', 'localhost')}:{env.get('PGPORT', '5432')}/"
                             f"{env.get('PGDATABASE', 'health')}); server memory not sampled")
        return
    from customer_health.engines.scratch_postgres import scratch_postgres

    with scratch_postgres() as env:
        version = reachable_postgres(env) or "?"
        yield PostgresServer(env, f"scratch PostgreSQL {version} cluster on port {env['PGPORT']} "
                             "(started by the benchmark, deleted afterwards)",
                             find_postmaster(env["PGPORT"]))
