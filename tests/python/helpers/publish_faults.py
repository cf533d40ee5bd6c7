"""Kill a refresh at a chosen step of its publish, deterministically and cheaply.

`FaultServer` starts this file as a script: a process that imports the package once (and renders
the dbt profile once), then serves requests from stdin, one JSON line each. For each request it
forks a child that runs `customer_health.pipeline.run.refresh` on the target (DuckDB: the given
served file and its working file; PostgreSQL: the database of the PG* variables) with the dbt
build and the quality gate replaced by stubs (the candidate was built before; the stubs report
success), under fault injection. Every step is counted and logged to the request's steps file
before it is taken; the child SIGKILLs itself just before step `kill_at`, or `kill_after`
seconds after that step began (after the child started, without `kill_at`). A step is a
connection opened (DuckDB, PostgreSQL), a SQL statement sent on one, or a file synced,
hard-linked, renamed or removed or a folder created (what `serve()` does around DuckDB's served
file); on DuckDB the log also records a digest of the files beside the served file before each
step. A point costs what the publish costs: no interpreter start, no imports, no profile
rendering.

The server writes one JSON line back per request: the child's exit code (-9 when it was killed,
-14 when it hung for CHILD_TIMEOUT_SECONDS) and its seconds.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

# The file operations of serve() (customer_health/pipeline/served_file.py) counted as steps;
# pathlib's unlink and mkdir call os.unlink and os.mkdir.
FILE_OPERATIONS = ("fsync", "link", "replace", "rename", "unlink", "mkdir")
FAILURE_SUFFIX = ".failure"
CHILD_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Step:
    number: int
    seconds: float  # since the child started
    files: str  # DuckDB: a digest of the files beside the served file before the step
    label: str


@dataclass(frozen=True)
class FaultRun:
    exit_code: int  # -9: killed
    seconds: float
    steps: list[Step]
    failure: str  # the traceback of a child that failed (not killed)

    @property
    def killed(self) -> bool:
        return self.exit_code == -signal.SIGKILL

    @property
    def last_step(self) -> str:
        return self.steps[-1].label if self.steps else "(before the first step)"


class FaultServer:
    """The fault server for a target (on DuckDB: one served file), its raw data and a dbt target
    folder holding the target's manifest (which names the published relations)."""

    def __init__(
        self, target: str, served: Path | None, raw_data_dir: Path, target_path: Path,
        env: dict[str, str], log_path: Path,
    ) -> None:
        self._log = log_path.open("w")
        arguments = [target, str(served or ""), str(raw_data_dir), str(target_path)]
        self.process = subprocess.Popen(
            [sys.executable, __file__, *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
        )

    def run(
        self,
        run_id: str,
        steps_file: Path,
        kill_at: int | None = None,
        kill_after: float | None = None,
    ) -> FaultRun:
        """Run a refresh as run_id (build and gate stubbed), killed just before step kill_at,
        or kill_after seconds after step kill_at began (after the start without kill_at)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {
            "run_id": run_id, "steps": str(steps_file), "kill_at": kill_at,
            "kill_after": kill_after,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fault server stopped (log: {self._log.name})")
        reply = json.loads(line)
        failure = steps_file.with_suffix(FAILURE_SUFFIX)
        return FaultRun(
            exit_code=reply["exit_code"],
            seconds=reply["seconds"],
            steps=read_steps(steps_file),
            failure=failure.read_text() if failure.exists() else "",
        )

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_steps(steps_file: Path) -> list[Step]:
    if not steps_file.exists():
        return []
    steps = []
    for line in steps_file.read_text().splitlines():
        number, seconds, files, label = line.split("\t", 3)
        steps.append(Step(int(number), float(seconds), files, label))
    return steps


# ------------------------------------------------------------------------- in the fork child


class Faults:
    """Counts steps, logs each before it is taken (with the state of the files in `watched`),
    and kills the process at step kill_at, or `delay` seconds after it."""

    def __init__(
        self, steps: TextIO, kill_at: int | None, delay: float | None, watched: Path | None
    ) -> None:
        self.steps = steps
        self.kill_at = kill_at
        self.delay = delay
        self.watched = watched
        self.count = 0
        self.started = time.monotonic()
        if delay is not None and kill_at is None:
            kill_later(delay)

    def step(self, label: str) -> None:
        self.count += 1
        seconds = time.monotonic() - self.started
        files = files_state(self.watched) if self.watched else ""
        # A line-buffered file: each line reaches the kernel before the step, so a kill keeps it.
        self.steps.write(f"{self.count}\t{seconds:.4f}\t{files}\t{label}\n")
        if self.count == self.kill_at:
            if self.delay is None:
                os.kill(os.getpid(), signal.SIGKILL)
            kill_later(self.delay)


def kill_later(seconds: float) -> None:
    """SIGKILL this process from a thread, whatever the main thread is doing then (DuckDB and
    psycopg2 release the interpreter while a statement runs)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()


def files_state(folder: Path) -> str:
    """A digest of the name, inode, size and modification time of every file under folder (the
    refresh lock left out): equal digests, equal bytes on disk (writes change the time)."""
    stats = []
    for root, _, names in os.walk(folder):
        for name in names:
            if not name.endswith(".refresh.lock"):
                stat = os.stat(os.path.join(root, name))
                stats.append((os.path.join(root, name), stat.st_ino, stat.st_size,
                              stat.st_mtime_ns))
    return hashlib.sha1(repr(sorted(stats)).encode()).hexdigest()[:12]


class CountedConnection:
    """A DuckDB connection whose statements are steps (everything else is passed through)."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._faults.step("sql: " + " ".join(str(sql).split())[:160])
        return self._inner.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountedCursor(CountedConnection):
    """A psycopg2 cursor whose statements are steps."""

    def __enter__(self) -> CountedCursor:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._inner.__exit__(*exc)


class CountedPostgresConnection:
    """A psycopg2 connection whose cursors count their statements (attributes set on it, such as
    autocommit, are set on the connection)."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_faults", faults)

    def cursor(self, *args: Any, **kwargs: Any) -> CountedCursor:
        return CountedCursor(self._inner.cursor(*args, **kwargs), self._faults)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def _names(name: str, args: tuple[Any, ...]) -> str:
    """The file names an operation is called with (os.fsync's file descriptor resolved)."""
    if name == "fsync":
        try:
            return Path(os.readlink(f"/proc/self/fd/{args[0]}")).name
        except OSError:
            return f"fd {args[0]}"
    return ", ".join(Path(arg).name for arg in args if isinstance(arg, str | os.PathLike))


def install(faults: Faults) -> None:
    import duckdb

    real_connect = duckdb.connect

    def connect(database: str = ":memory:", *args: Any, **kwargs: Any) -> CountedConnection:
        mode = " (read only)" if kwargs.get("read_only") else ""
        faults.step(f"connect {Path(database).name}{mode}")
        return CountedConnection(real_connect(database, *args, **kwargs), faults)

    duckdb.connect = connect
    import psycopg2

    real_postgres_connect = psycopg2.connect

    def postgres_connect(*args: Any, **kwargs: Any) -> CountedPostgresConnection:
        faults.step(f"connect postgres {kwargs.get('dbname', '')}".rstrip())
        return CountedPostgresConnection(real_postgres_connect(*args, **kwargs), faults)

    psycopg2.connect = postgres_connect
    for name in FILE_OPERATIONS:
        real = getattr(os, name)

        def operation(*args: Any, called: str = name, real: Any = real, **kwargs: Any) -> Any:
            faults.step(f"os.{called}({_names(called, args)})")
            return real(*args, **kwargs)

        setattr(os, name, operation)


def stub_build_and_gate() -> None:
    """The candidate is built already: dbt build and the quality gate report success."""
    from customer_health.gate.run import GateResult
    from customer_health.pipeline import run
    from customer_health.pipeline.dbt import BuildResult

    run.run_dbt_build = lambda *args, **kwargs: BuildResult(True, [], "")
    run.audit = lambda *args, **kwargs: GateResult(
        passed=True, passed_count=1, failed_count=0, warned=0, report="gate stubbed"
    )


def child(options: Any, request: dict[str, Any]) -> None:
    """Run the refresh under fault injection, then leave without any cleanup."""
    from customer_health.pipeline import run
    from customer_health.pipeline.run_summary import RunSummary

    code = 1
    steps_file = Path(request["steps"])
    os.dup2(2, 1)  # stdout is the server's reply channel
    signal.alarm(CHILD_TIMEOUT_SECONDS)  # a child that hangs ends (SIGALRM) instead of the test
    try:
        watched = options.db_path.parent if options.target == "duckdb" else None
        steps = steps_file.open("w", buffering=1)
        faults = Faults(steps, request["kill_at"], request["kill_after"], watched)
        stub_build_and_gate()
        install(faults)
        summary = RunSummary(command="refresh", target=options.target, run_id=request["run_id"])
        run.refresh(options, summary)
        code = 0
    except BaseException:
        steps_file.with_suffix(FAILURE_SUFFIX).write_text(traceback.format_exc())
    finally:
        os._exit(code)


def serve_requests(target: str, served: str, raw_data_dir: Path, target_path: Path) -> None:
    import logging

    from customer_health.dbt_project import CURRENT_MODELS, HISTORY_MODELS, project_facts
    from customer_health.engines.warehouse import duckdb_settings, target_credentials
    from customer_health.pipeline.run import RunOptions

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # A refresh that is allowed to replace newer current scores (the candidate may be older).
    options = RunOptions(
        target=target, db_path=Path(served) if served else None, raw_data_dir=raw_data_dir,
        target_path=target_path, show_progress=False, replace_current=True,
    )
    # What every child would otherwise do again: import the engine clients, render the dbt
    # profile (the working file, the credentials), read the project's facts from the manifest.
    import duckdb  # noqa: F401
    import psycopg2  # noqa: F401

    options.paths()
    if target == "duckdb":
        duckdb_settings()
    else:
        target_credentials(target)
    project_facts(target_path, target)
    len(CURRENT_MODELS), len(HISTORY_MODELS)
    # Keep the collector off the objects imported so far: a child that collected them would
    # write to (and so copy) every page it shares with this process.
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(options, request)
        _, status = os.waitpid(pid, 0)
        reply = {
            "exit_code": os.waitstatus_to_exitcode(status),
            "seconds": round(time.monotonic() - started, 3),
        }
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve_requests(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
