"""A throw-away PostgreSQL cluster: initdb in a temporary folder, a free port, stopped and deleted
afterwards. The tests and the benchmark use it; PostgreSQL 15 (Debian's package) provides the
binaries. initdb refuses to run as root, so the cluster runs as the `postgres` user then.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

POSTGRES_SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    """Folder of initdb and pg_ctl (the Debian package puts them under /usr/lib/postgresql)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: initdb not found (apt install postgresql)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


def _as_cluster_owner(command: Sequence[str]) -> list[str]:
    """initdb refuses root: run the cluster as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", POSTGRES_SUPERUSER, "--", *command]


@contextlib.contextmanager
def scratch_postgres(database: str = "health") -> Iterator[dict[str, str]]:
    """A throw-away PostgreSQL cluster on a free port; yields the PG* variables to reach it.

    The data folder and socket live in a temporary folder owned by the cluster's user; the
    cluster is stopped and deleted afterwards, whatever happens.
    """
    bin_dir = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="health_pg_"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam(POSTGRES_SUPERUSER)
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    env = {
        "PGHOST": "localhost", "PGPORT": str(port), "PGUSER": POSTGRES_SUPERUSER,
        "PGPASSWORD": "", "PGDATABASE": database,
    }
    try:
        subprocess.run(
            _as_cluster_owner([
                str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_SUPERUSER,
                "--auth=trust", "-E", "UTF8", "--locale=C",
            ]),
            check=True, capture_output=True, text=True,
        )
        subprocess.run(
            _as_cluster_owner([
                str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                "-o", f"-p {port} -k {sockets} -c listen_addresses=localhost -c fsync=off",
                "start",
            ]),
            check=True, capture_output=True, text=True,
        )
        subprocess.run(
            [str(bin_dir / "psql"), "-h", "localhost", "-p", str(port), "-U",
             POSTGRES_SUPERUSER, "-d", "postgres", "-c", f"create database {database}"],
            check=True, capture_output=True, text=True,
        )
        yield env
    finally:
        subprocess.run(
            _as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                               "-w", "stop"]),
            check=False, capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
