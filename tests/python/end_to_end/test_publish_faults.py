"""A refresh killed anywhere across dbt build, quality gate and publish leaves schema `health`
exactly one whole published run, and the next run publishes.

DuckDB. The session's published baseline (the sample as of 2024-12-31) gets a candidate as of a
month earlier (`--replace-current`), so that the current relations it would publish differ:

* quality gate: a refresh, whose build completes (which leaves the candidate built in the
  working file), is SIGKILLed (with its process group) while the gate runs;
* dbt build: the next refresh is killed after a random number of models were built. Both times
  the served file and the working file's `health` are byte-for-byte the baseline, and no lock
  is left.
* publish: the rest of a refresh (input check, publish in the working file, new served file)
  runs in a child forked from a fault server (helpers/publish_faults.py), dbt build and gate
  stubbed, which SIGKILLs itself just before its k-th step: a DuckDB connection or statement, a
  file synced, linked, renamed or removed. A dry run counts the steps and records the files on
  disk before each; the run is killed, from the same starting files each time, before every
  step the files differ at (a kill before any other step leaves the same bytes as the one
  before it), and at random instants inside the steps that write (a file half written;
  HEALTH_FAULT_SEED replays them). After each kill the served file, the working file and any
  version file kept for the run each hold one whole run: the previous publish exactly, or all
  of the new one (every relation as the dry run published it, its publish-log rows appended to
  the previous ones); the served file is never ahead of the working file; no lock is held. From
  every distinct leftover (which file is new, which files exist, which were written) and after
  every kill inside a step the next refresh must publish a whole run.
* Finally `health publish` (real gate) runs on what a kill between the two files left (working
  file published, served file not yet replaced) and must publish.

PostgreSQL (marked engines): the same kills before every statement that writes, and at random
times, each run going on from what the previous kill left; `health` must always be views over
the versions of one whole run, and the last run publishes and drops the versions the killed runs
left.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import PublishedBaseline
from helpers.fingerprint import health_checksums, health_fingerprint
from helpers.project import (
    REPO_DIR,
    SAMPLE_DATA_DIR,
    TERMINAL_SUMMARY,
    clean_env,
    health_command,
    output_of,
    refresh_args,
    run_health,
    wait_for_process_group_to_end,
)
from helpers.publish_faults import FaultRun, FaultServer, Step

from customer_health.pipeline.lock import RefreshLockedError, refresh_lock

AS_OF = date(2024, 11, 30)  # the candidate; the baseline is as of 2024-12-31
REFRESH_ARGS = ("--as-of-date", AS_OF.isoformat(), "--replace-current")
SERVED = "customer_health.duckdb"
SEED = int(os.environ.get("HEALTH_FAULT_SEED") or random.SystemRandom().randrange(1_000_000))
TIMED_KILLS = 6
PREVIOUS = "the previous publish"


# ------------------------------------------------------------------------ published states


@dataclass(frozen=True)
class Published:
    """What a DuckDB file publishes in schema `health`."""

    relations: dict[str, str]  # health_checksums, the publish log left out
    log: list[tuple[Any, ...]]  # publish-log rows, oldest first


def read_published(db_path: Path) -> Published:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        relations = health_checksums(connection)
        relations.pop("publish_log", None)
        log = connection.execute(
            "select * from health.publish_log order by published_at, as_of_date"
        ).fetchall()
    return Published(relations=relations, log=log)


def log_facts(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """What a publish logs besides its run id, time and timings: kind, date, accounts, config."""
    return [(row[2], row[3], row[4], row[8]) for row in rows]


class NotWhole(AssertionError):
    """A file's `health` is not one whole published run."""


def shown_run(state: Published, previous: Published, new: Published) -> str:
    """The one whole run a file's `health` shows: PREVIOUS, or the id of the last run that
    published the candidate (its relations all as the dry run `new` published them, each run's
    publish-log rows as the dry run's, appended to the previous rows); else NotWhole."""
    kept = state.log[: len(previous.log)]
    if kept != previous.log:
        raise NotWhole(f"the previous publish-log rows changed: {kept} != {previous.log}")
    tail = state.log[len(previous.log):]
    expected = new if tail else previous
    if state.relations != expected.relations:
        runs: dict[str, list[str]] = {}
        for name in sorted(set(state.relations) | set(previous.relations)):
            checksum = state.relations.get(name)
            run = (
                "missing" if checksum is None
                else "previous" if checksum == previous.relations.get(name)
                else "new" if checksum == new.relations.get(name) else "neither"
            )
            runs.setdefault(run, []).append(name)
        raise NotWhole(f"relations of more than one run ({len(tail)} new publish-log rows): "
                       + "; ".join(f"{run}: {', '.join(names)}" for run, names in runs.items()))
    if not tail:
        return PREVIOUS
    new_rows = log_facts(new.log[len(previous.log):])
    logged = [
        (run_id, list(rows))
        for run_id, rows in itertools.groupby(tail, key=lambda row: row[0])
    ]
    for run_id, rows in logged:
        if log_facts(rows) != new_rows:
            raise NotWhole(f"run {run_id} logged {log_facts(rows)}, not {new_rows}")
    return logged[-1][0]


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:600]


# ------------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class Files:
    """A served file, its working file and its kept versions, in one folder."""

    folder: Path
    working_name: str

    @property
    def served(self) -> Path:
        return self.folder / SERVED

    @property
    def working(self) -> Path:
        return self.folder / self.working_name

    def stats(self) -> dict[str, tuple[int, int]]:
        """Size and modification time of each file in the folder, the lock file left out."""
        return {
            str(path.relative_to(self.folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in self.folder.rglob("*")
            if path.is_file() and not path.name.endswith(".refresh.lock")
        }

    def leftovers(self, run_id: str, start: Files) -> frozenset[tuple[str, bool]]:
        """Each file in the folder (run_id written as <run>) and whether it differs from the
        same file in start (copies keep their modification time)."""
        before = start.stats()
        return frozenset(
            (name.replace(run_id, "<run>"), before.get(name) != stat)
            for name, stat in self.stats().items()
        )

    def versions_of(self, run_id: str) -> list[Path]:
        return sorted(self.folder.glob(f".{SERVED}.versions/{run_id}.duckdb"))


def copy_files(source: Files, folder: Path) -> Files:
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source.folder, folder)
    return Files(folder, source.working_name)


def lock_is_free(served: Path) -> bool:
    try:
        with refresh_lock(served):
            return True
    except RefreshLockedError:
        return False


# ------------------------------------------------------------- refreshes killed by the clock


@dataclass(frozen=True)
class KilledRefresh:
    exit_code: int
    when: str
    served: dict[str, str]  # health_fingerprint after the kill
    working: dict[str, str]
    lock_free: bool
    served_log: bool  # a write-ahead log beside the served file


def kill_refresh(
    files: Files, target_path: Path, log_path: Path, ready: Callable[[], str | None]
) -> KilledRefresh:
    """Start `health refresh` (the candidate's date) and SIGKILL it and dbt once ready() says
    when; then read what it left."""
    args = refresh_args(files.served, SAMPLE_DATA_DIR, target_path, REFRESH_ARGS)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            health_command("refresh", *args),
            env={**clean_env(), "HEALTH_PROJECT_DIR": str(REPO_DIR)}, cwd=REPO_DIR,
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the refresh and dbt together
        )
        try:
            deadline = time.monotonic() + 600
            while (when := ready()) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "the refresh ended before it could be killed:\n"
                        + log_path.read_text()[-3000:]
                    )
                time.sleep(0.05)
            assert process.poll() is None, "the refresh ended before it was killed"
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            wait_for_process_group_to_end(process.pid)
    return KilledRefresh(
        exit_code=process.returncode,
        when=when,
        served=health_fingerprint(files.served),
        working=health_fingerprint(files.working),
        lock_free=lock_is_free(files.served),
        served_log=files.served.with_name(SERVED + ".wal").exists(),
    )



def after_models_built(dbt_log: Path, count: int) -> Callable[[], str | None]:
    """Once dbt has logged `count` more models built than its log holds now."""

    def built() -> int:
        return dbt_log.read_text(errors="replace").count("OK created") if dbt_log.exists() else 0

    before = built()

    def ready() -> str | None:
        now = built() - before
        return f"after {now} models were built" if now >= count else None

    return ready


def into_the_gate(target_path: Path, delay: float) -> Callable[[], str | None]:
    """Once the gate has set up its GX context (customer_health.gate.suites.context_dir), plus
    delay seconds (the gate runs for seconds after that)."""
    context = target_path / "gx" / "duckdb"
    seen: list[float] = []

    def ready() -> str | None:
        if not seen and context.is_dir():
            seen.append(time.monotonic())
        if seen and time.monotonic() - seen[0] >= delay:
            return f"{delay:.2f} s after the gate set up its GX context"
        return None

    return ready


@dataclass(frozen=True)
class Candidate:
    start: Files  # the baseline published, the candidate built in the working file
    target_path: Path  # the build's dbt target folder (its manifest)
    build_kill: KilledRefresh
    gate_kill: KilledRefresh
    candidate_as_of: date


@pytest.fixture(scope="module")
def candidate(
    published_baseline: PublishedBaseline, tmp_path_factory: pytest.TempPathFactory
) -> Candidate:
    """The baseline's files, a refresh as of AS_OF killed during the gate (its dbt build had
    completed: the candidate is built in the working file), then one killed during dbt build
    (on the same files; the candidate is kept from before it)."""
    folder = tmp_path_factory.mktemp("publish_faults")
    files = Files(folder / "files", published_baseline.working_path.name)
    files.folder.mkdir()
    baseline = published_baseline.db_path
    shutil.copyfile(baseline, files.served)
    shutil.copyfile(published_baseline.working_path, files.working)
    versions = f".{SERVED}.versions"
    shutil.copytree(baseline.with_name(versions), files.folder / versions)
    rng = random.Random(SEED)
    # One dbt target folder, the same files and vars for both refreshes: the second parses the
    # project partially. The baseline's manifest (still fresh) spares the first the parse a new
    # target folder needs.
    target = folder / "target"
    target.mkdir()
    manifest = baseline.with_name("target") / "manifest.json"
    if manifest.is_file():
        shutil.copy2(manifest, target / manifest.name)
    started = time.perf_counter()
    gate_kill = kill_refresh(
        files, target, folder / "killed_in_gate.log", into_the_gate(target, rng.uniform(0, 0.5))
    )
    gate_seconds = time.perf_counter() - started
    start = copy_files(files, folder / "candidate")
    build_kill = kill_refresh(
        files, target, folder / "killed_in_build.log",
        after_models_built(target / "logs" / "dbt.log", rng.randint(1, 8)),
    )
    TERMINAL_SUMMARY.append(
        f"publish faults (DuckDB): a refresh killed during the gate {gate_kill.when} "
        f"({gate_seconds:.0f} s), the next one during dbt build {build_kill.when} "
        f"({time.perf_counter() - started - gate_seconds:.0f} s)"
    )
    with duckdb.connect(str(start.working), read_only=True) as connection:
        built = connection.execute("select max(as_of_date) from marts.customer_health_scores")
        candidate_as_of = built.fetchone()[0]
    return Candidate(start, target, build_kill, gate_kill, candidate_as_of)


@pytest.fixture(scope="module")
def fault_server(candidate: Candidate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[FaultServer, Files]
]:
    """A fault server for files copied from the candidate's (restore them before each run)."""
    folder = tmp_path_factory.mktemp("publish_fault_runs")
    files = copy_files(candidate.start, folder / "files")
    env = {**clean_env(), "HEALTH_PROJECT_DIR": str(REPO_DIR)}
    with FaultServer(
        "duckdb", files.served, SAMPLE_DATA_DIR, candidate.target_path, env,
        folder / "server.log",
    ) as server:
        yield server, files


@dataclass(frozen=True)
class DryRun:
    """The fault server's refresh run through once, from the candidate's files."""

    run: FaultRun
    previous: Published  # what the candidate's files published before it
    new: Published  # what it published


@pytest.fixture(scope="module")
def dry_run(
    candidate: Candidate, fault_server: tuple[FaultServer, Files],
    tmp_path_factory: pytest.TempPathFactory,
) -> DryRun:
    server, files = fault_server
    copy_files(candidate.start, files.folder)
    run = server.run("dryrun", tmp_path_factory.mktemp("dry_run") / "dryrun.steps")
    assert run.exit_code == 0, run.failure
    new = read_published(files.served)
    assert read_published(files.working) == new
    return DryRun(run, read_published(candidate.start.served), new)


# -------------------------------------------------------------------------------- the tests


def test_a_refresh_killed_during_dbt_build_or_the_gate_changes_nothing(
    candidate: Candidate, published_baseline: PublishedBaseline
) -> None:
    for step, killed in (("gate", candidate.gate_kill), ("dbt build", candidate.build_kill)):
        where = f"killed during the {step}, {killed.when} (seed {SEED})"
        assert killed.exit_code == -signal.SIGKILL, where
        assert killed.served == published_baseline.fingerprint, f"{where}: served file changed"
        assert killed.working == published_baseline.fingerprint, f"{where}: working file changed"
        assert killed.lock_free, f"{where}: the refresh lock is still held"
        assert not killed.served_log, f"{where}: a write-ahead log beside the served file"
    assert candidate.candidate_as_of == AS_OF, "the refresh killed in the gate built the candidate"


def file_changes(steps: list[Step]) -> list[int]:
    """The steps before which the files on disk differ from before the step before them (and
    the first): a kill before any other step leaves the same bytes as a kill before one of
    these."""
    return [
        step.number for before, step in zip([None, *steps], steps, strict=False)
        if before is None or step.files != before.files
    ]


def instants_in_writing_steps(steps: list[Step], count: int) -> list[tuple[int, float]]:
    """Random instants (step, seconds into it) while the steps the files change by ran in the
    dry run: where a kill can leave a file half written."""
    writing = [
        (step.number, after.seconds - step.seconds)
        for step, after in itertools.pairwise(steps) if after.files != step.files
    ]
    rng = random.Random(SEED + 1)
    instants = []
    for _ in range(count):
        at = rng.uniform(0, sum(seconds for _, seconds in writing))
        for number, seconds in writing:
            if at <= seconds:
                instants.append((number, at))
                break
            at -= seconds
    return instants


def write_steps(steps: list[Step]) -> list[int]:
    """The steps that may write: all but reads (read-only connections, selects)."""
    return [
        step.number for step in steps
        if not (step.label.endswith("(read only)") or step.label.startswith("sql: select"))
    ]


def check_leftover(
    where: str, files: Files, start: Files, run_id: str, previous: Published, new: Published
) -> tuple[list[str], tuple[object, ...]]:
    """Problems with what a killed run left, and the leftover's shape: which run the served
    and the working file show, which files exist and which of them were written."""
    problems, shown = [], {}
    checked = {"served file": files.served, "working file": files.working}
    checked.update({f"kept version {path.name}": path for path in files.versions_of(run_id)})
    for name, path in checked.items():
        try:
            shown[name] = shown_run(read_published(path), previous, new)
        except (NotWhole, duckdb.Error) as error:
            problems.append(f"{where}: the {name} is not one whole run: {one_line(error)}")
    if shown.get("served file") == run_id and shown.get("working file") == PREVIOUS:
        problems.append(f"{where}: the served file shows run {run_id}, the working file not")
    if not lock_is_free(files.served):
        problems.append(f"{where}: the refresh lock is still held")
    shape = (
        shown.get("served file") == PREVIOUS, shown.get("working file") == PREVIOUS,
        files.leftovers(run_id, start),
    )
    return problems, shape


def check_next_run(
    where: str, server: FaultServer, files: Files, run_id: str, steps: Path,
    previous: Published, new: Published,
) -> list[str]:
    """The next refresh (build and gate stubbed) on what a kill left publishes a whole run."""
    after = server.run(run_id, steps)
    if after.exit_code != 0:
        return [f"{where}: the next refresh exited {after.exit_code} at step "
                f"{len(after.steps)} ({after.last_step}):\n{after.failure[-2000:]}"]
    problems = []
    for name, path in (("served file", files.served), ("working file", files.working)):
        try:
            shown = shown_run(read_published(path), previous, new)
        except (NotWhole, duckdb.Error) as error:
            problems.append(
                f"{where}, then the next refresh: the {name} is not whole: {one_line(error)}"
            )
            continue
        if shown != run_id:
            problems.append(f"{where}, then the next refresh: the {name} shows {shown}")
    return problems


def test_a_refresh_killed_at_any_step_of_its_publish_leaves_one_whole_run(
    candidate: Candidate, fault_server: tuple[FaultServer, Files], dry_run: DryRun,
    tmp_path: Path,
) -> None:
    started = time.perf_counter()
    server, files = fault_server
    dry, previous, new = dry_run.run, dry_run.previous, dry_run.new
    assert shown_run(new, previous, new) == "dryrun"
    assert {row[3] for row in new.log[len(previous.log):]} == {AS_OF}
    scores = "customer_health_scores"
    assert new.relations[scores] != previous.relations[scores], "the same scores as before"

    points = file_changes(dry.steps)
    assert len(points) + TIMED_KILLS >= 20, [f"{step.files} {step.label}" for step in dry.steps]
    problems: list[str] = []
    shapes: dict[tuple[object, ...], str] = {}
    killed_count = 0
    for point in points:
        run_id = f"kill{point:03}"
        copy_files(candidate.start, files.folder)
        killed = server.run(run_id, tmp_path / f"{run_id}.steps", kill_at=point)
        where = f"killed before step {point} of {len(dry.steps)} ({killed.last_step})"
        killed_count += killed.killed
        if not killed.killed or len(killed.steps) != point:
            problems.append(f"{where}: the run was not killed there (exit {killed.exit_code}, "
                            f"{len(killed.steps)} steps):\n{killed.failure[-2000:]}")
            continue
        found, shape = check_leftover(where, files, candidate.start, run_id, previous, new)
        problems += found
        if not found and shape not in shapes:
            shapes[shape] = where
            problems += check_next_run(
                where, server, files, f"next{point:03}", tmp_path / f"next{point:03}.steps",
                previous, new,
            )

    for index, (step, after) in enumerate(instants_in_writing_steps(dry.steps, TIMED_KILLS)):
        run_id = f"timed{index}"
        copy_files(candidate.start, files.folder)
        killed = server.run(run_id, tmp_path / f"{run_id}.steps", kill_at=step, kill_after=after)
        where = (f"killed {after:.3f} s into step {step} (HEALTH_FAULT_SEED={SEED}), in or "
                 f"after step {len(killed.steps)} ({killed.last_step})")
        killed_count += killed.killed
        if killed.exit_code not in (0, -signal.SIGKILL):
            problems.append(f"{where}: the run failed:\n{killed.failure[-2000:]}")
            continue
        found, _ = check_leftover(where, files, candidate.start, run_id, previous, new)
        problems += found
        if not found:
            problems += check_next_run(
                where, server, files, f"after_{run_id}", tmp_path / f"after_{run_id}.steps",
                previous, new,
            )

    seconds = time.perf_counter() - started
    TERMINAL_SUMMARY.append(
        f"publish faults (DuckDB): {len(points)} kill points (the steps of {len(dry.steps)} "
        f"the files differ at), {TIMED_KILLS} at random instants of the steps that write "
        f"({killed_count} runs killed, HEALTH_FAULT_SEED={SEED}); {len(shapes)} distinct "
        f"leftovers, each followed by a refresh; {seconds:.0f} s"
    )
    assert not problems, "\n".join(problems[:20])


def test_health_publish_succeeds_after_a_kill_between_the_working_and_the_served_file(
    candidate: Candidate, fault_server: tuple[FaultServer, Files], dry_run: DryRun,
    tmp_path: Path,
) -> None:
    server, files = fault_server
    previous, new = dry_run.previous, dry_run.new
    replace = next(
        step.number for step in dry_run.run.steps
        if re.match(rf"os\.replace\(.*, {SERVED}\)", step.label)
    )

    copy_files(candidate.start, files.folder)
    killed = server.run("killed", tmp_path / "killed.steps", kill_at=replace)
    assert killed.killed, killed.failure
    assert shown_run(read_published(files.served), previous, new) == PREVIOUS
    assert shown_run(read_published(files.working), previous, new) == "killed"

    completed = run_health(
        "publish",
        ["--db-path", str(files.served), "--target-path", str(candidate.target_path), "--json",
         "--quiet"],
    )
    assert completed.returncode == 0, output_of(completed)
    run_id = json.loads(completed.stdout)["run_id"]
    for path in (files.served, files.working):
        assert shown_run(read_published(path), previous, new) == run_id, path
    assert lock_is_free(files.served)


# ------------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresPublished:
    """What schema `health` of a PostgreSQL database publishes: views over versioned tables and
    history partitions."""

    views: dict[str, str | None]  # relation -> run id of the version its view selects from
    # (None: an empty history relation, which shows no partition)
    checksums: dict[str, str]  # relation -> row count and sum of row hashes (read via the view)
    log: list[tuple[Any, ...]]  # publish-log rows, oldest first
    versions: list[str]  # tables in schema health_versions


def read_postgres(connection: Any) -> PostgresPublished:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    views = {}
    for name, definition in query(
        "select viewname, definition from pg_views where schemaname = 'health'"
    ):
        found = re.search(rf"health_versions\.{name}__(\w+)", definition)
        shown = set(re.findall(r"published_run_id = '(\w+)'", definition))
        if found and found.group(1) == "parts" and len(shown) <= 1:
            # A dated history relation's partitions: one run's when the run shows them all,
            # none when it has no rows (the sample's change relations: one date is scored).
            views[name] = shown.pop() if shown else None
        elif found and found.group(1) != "parts":
            views[name] = found.group(1)
        else:
            views[name] = f"(not a version of one run: {definition[:200]})"
    checksums = {
        name: "{} rows | {}".format(*query(
            f"select count(*), sum(hashtext(r::text)::bigint) from health.{name} as r"
        )[0])
        for name in sorted(views)
    }
    log = query("select * from health.publish_log order by published_at, as_of_date")
    versions = [row[0] for row in query(
        "select tablename from pg_tables where schemaname = 'health_versions' order by 1"
    )]
    return PostgresPublished(views, checksums, log, versions)


def postgres_shown_run(state: PostgresPublished, expected: PostgresPublished) -> str:
    """The run whose versions all views select from, when it is one whole run: every relation
    there, all as the dry run `expected` published them, the last run in the publish log with
    the dry run's log rows; else NotWhole."""
    if set(state.views) != set(expected.views):
        raise NotWhole(f"relations {sorted(state.views)}, not {sorted(expected.views)}")
    runs: dict[str, list[str]] = {}
    for name, run_id in sorted(state.views.items()):
        if run_id is not None:
            runs.setdefault(run_id, []).append(name)
    if len(runs) != 1:
        raise NotWhole("views over the versions of several runs: " + "; ".join(
            f"{run_id}: {', '.join(names)}" for run_id, names in runs.items()
        ))
    (shown,) = runs
    if state.checksums != expected.checksums:
        differ = [name for name in state.checksums
                  if state.checksums[name] != expected.checksums.get(name)]
        raise NotWhole(f"run {shown}: relations with other rows than published: {differ}")
    last = state.log[-1][0] if state.log else None
    if last != shown:
        raise NotWhole(f"the views show run {shown}, the publish log ends with run {last}")
    dry_run = expected.log[-1][0]
    expected_rows = log_facts([row for row in expected.log if row[0] == dry_run])
    if log_facts([row for row in state.log if row[0] == shown]) != expected_rows:
        raise NotWhole(f"run {shown} logged other rows than {expected_rows}")
    return shown


def wait_for_refresh_sessions_to_end(connection: Any) -> None:
    """A killed refresh's sessions end when the server notices (its advisory lock with them)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "select count(*) from pg_stat_activity "
                "where application_name = 'customer_health' and pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the killed refresh's PostgreSQL sessions did not end")


def postgres_lock_is_free(connection: Any) -> bool:
    from customer_health.pipeline.lock import POSTGRES_LOCK_KEY

    with connection.cursor() as cursor:
        cursor.execute(f"select pg_try_advisory_lock({POSTGRES_LOCK_KEY})")
        (locked,) = cursor.fetchone()
        if locked:
            cursor.execute(f"select pg_advisory_unlock({POSTGRES_LOCK_KEY})")
    return bool(locked)


@pytest.fixture(scope="module")
def postgres_faults(
    postgres_build: dict[str, str], postgres_build_target: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FaultServer, Any]]:
    """A fault server on the session's PostgreSQL build (nothing published; what the test
    publishes is dropped afterwards) and a connection of the test's own to it."""
    import psycopg2

    folder = tmp_path_factory.mktemp("publish_faults_postgres")
    target = folder / "target"
    target.mkdir()
    built = postgres_build_target / "manifest.json"  # the build's (parsed again when stale)
    if built.is_file():
        shutil.copy2(built, target / "manifest.json")
    connection = psycopg2.connect(
        host=postgres_build["PGHOST"], port=postgres_build["PGPORT"],
        user=postgres_build["PGUSER"], password=postgres_build.get("PGPASSWORD", ""),
        dbname=postgres_build["PGDATABASE"], application_name="publish_fault_checks",
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_namespace where nspname = 'health'")
        assert cursor.fetchone()[0] == 0, "the PostgreSQL build has a published schema already"
    env = {**clean_env(postgres_build), "HEALTH_PROJECT_DIR": str(REPO_DIR)}
    try:
        with FaultServer(
            "postgres", None, SAMPLE_DATA_DIR, target, env, folder / "server.log"
        ) as server:
            yield server, connection
    finally:
        with connection.cursor() as cursor:
            cursor.execute("drop schema if exists health cascade")
            cursor.execute("drop schema if exists health_versions cascade")
        connection.close()


@pytest.mark.engines
def test_a_postgres_refresh_killed_at_any_step_of_its_publish_leaves_one_whole_run(
    postgres_faults: tuple[FaultServer, Any], tmp_path: Path
) -> None:
    """Each run starts from what the previous kill left (PostgreSQL cannot restore a database as
    cheaply as a file is copied): after each kill `health` shows one whole run, the previous
    one or the killed one, and the next run goes on from there; the last run publishes and
    drops the versions the killed runs left. Every run publishes the session's one build, so
    which run `health` shows is read from the versions its views select from (all of one run,
    the last in the publish log); their rows must be the build's."""
    from customer_health.settings import PUBLISHES_KEPT

    started = time.perf_counter()
    server, connection = postgres_faults
    for run_id in ("baseline", "dryrun"):
        run = server.run(run_id, tmp_path / f"{run_id}.steps")
        assert run.exit_code == 0, run.failure
    dry = run
    expected = read_postgres(connection)
    assert postgres_shown_run(expected, expected) == "dryrun"

    points = write_steps(dry.steps)
    assert len(points) >= 20, [step.label for step in dry.steps]
    rng = random.Random(SEED + 2)
    timed = [rng.uniform(dry.steps[points[0] - 1].seconds, dry.steps[-1].seconds + 0.02)
             for _ in range(TIMED_KILLS)]
    problems: list[str] = []
    shown, log = "dryrun", expected.log
    for run_id, kill_at, kill_after in [
        *((f"kill{point:03}", point, None) for point in points),
        *((f"timed{index}", None, after) for index, after in enumerate(timed)),
    ]:
        killed = server.run(run_id, tmp_path / f"{run_id}.steps", kill_at, kill_after)
        wait_for_refresh_sessions_to_end(connection)
        when = (f"before step {kill_at}" if kill_at else
                f"{kill_after:.3f} s in, in or after step {len(killed.steps)}")
        where = f"{run_id} killed {when} ({killed.last_step}; HEALTH_FAULT_SEED={SEED})"
        if kill_at and (not killed.killed or len(killed.steps) != kill_at):
            problems.append(f"{where}: not killed before step {kill_at} (exit "
                            f"{killed.exit_code}):\n{killed.failure[-2000:]}")
        elif killed.exit_code not in (0, -signal.SIGKILL):
            problems.append(f"{where}: the run failed:\n{killed.failure[-2000:]}")
        state = read_postgres(connection)
        try:
            now_shown = postgres_shown_run(state, expected)
        except NotWhole as error:
            problems.append(f"{where}: `health` is not one whole run: {one_line(error)}")
            continue
        if now_shown not in (shown, run_id):
            problems.append(f"{where}: `health` shows run {now_shown}, not {shown} or {run_id}")
        if state.log[: len(log)] != log:
            problems.append(f"{where}: publish-log rows of earlier runs changed")
        if not postgres_lock_is_free(connection):
            problems.append(f"{where}: the refresh lock is still held")
        shown, log = now_shown, state.log

    final = server.run("final", tmp_path / "final.steps")
    assert final.exit_code == 0, final.failure
    state = read_postgres(connection)
    assert postgres_shown_run(state, expected) == "final"
    logged = {row[0] for row in state.log}
    for name in state.views:
        runs = [table.removeprefix(f"{name}__").removeprefix("parts__")
                for table in state.versions
                if table.startswith(f"{name}__") and table != f"{name}__parts"]
        assert set(runs) <= logged, f"{name}: versions of runs never published: {runs}"
        assert len(runs) <= PUBLISHES_KEPT, f"{name}: {len(runs)} versions kept"
    TERMINAL_SUMMARY.append(
        f"publish faults (PostgreSQL): {len(points)} kill points before the writing steps of "
        f"{len(dry.steps)}, {TIMED_KILLS} at random times, each run after the last kill "
        f"(HEALTH_FAULT_SEED={SEED}); {time.perf_counter() - started:.0f} s"
    )
    assert not problems, "\n".join(problems[:20])
