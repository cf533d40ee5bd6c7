"""Measuring one benchmark step: wall time and the peak resident memory of its process tree.

Memory is sampled from /proc (so Linux only) every SAMPLE_SECONDS while the step runs; for a
PostgreSQL server that is not a child of the step (a scratch cluster), the server's proportional
set size is added.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.1


@dataclass
class Measurement:
    """One subprocess: wall seconds, peak resident memory of its process tree, exit code.

    server_peak_mb: the part of peak_rss_mb that a PostgreSQL server outside the process tree
    used (None when no server was sampled). load_average: the machine's 1-minute load average
    when the step ended (the machine may be shared: above the number of cores, the step competed
    for them).
    """

    seconds: float
    peak_rss_mb: float
    returncode: int
    server_peak_mb: float | None = None
    load_average: float | None = None

    @property
    def failed(self) -> bool:
        return self.returncode != 0


def _process_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    tree, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def process_tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of root_pid and all its descendants, from /proc."""
    page_size, total = os.sysconf("SC_PAGE_SIZE"), 0
    for pid in _process_tree(root_pid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_size
        except OSError:
            continue
    return total


def process_tree_pss_bytes(root_pid: int) -> int:
    """Proportional set size of root_pid and its descendants: shared memory (PostgreSQL's shared
    buffers) is split among the processes mapping it instead of counted once per process."""
    total = 0
    for pid in _process_tree(root_pid):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in rollup.splitlines()
                       if line.startswith("Pss:")), 0)
    return total


def measure(command: Sequence[str], env: dict[str, str], log_file: Path,
            server_pid: int | None = None) -> Measurement:
    """Run command, sampling the memory of its process tree (plus server_pid's) until it exits."""
    peak = server_peak = 0
    done = threading.Event()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal peak, server_peak
            while not done.is_set():
                server = process_tree_pss_bytes(server_pid) if server_pid else 0
                peak = max(peak, process_tree_rss_bytes(process.pid) + server)
                server_peak = max(server_peak, server)
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = process.wait()
        except BaseException:  # interrupted: do not leave the step running
            process.kill()
            process.wait()
            raise
        finally:
            done.set()
        seconds = time.perf_counter() - started
        sampler.join()
    if returncode != 0:
        log.error("%s exited with %d; output in %s", command[0], returncode, log_file)
    return Measurement(round(seconds, 2), round(peak / 2**20, 1), returncode,
                       round(server_peak / 2**20, 1) if server_pid else None,
                       round(os.getloadavg()[0], 2))


def node_seconds(run_results: Path) -> tuple[float, float]:
    """Summed execution time of models (and seeds) and of tests in a dbt run_results.json."""
    if not run_results.exists():  # dbt failed before writing it
        return 0.0, 0.0
    results = json.loads(run_results.read_text())["results"]
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith(("test.",
                                                                                   "unit_test.")))
    total = sum(r["execution_time"] for r in results)
    return round(total - tests, 2), round(tests, 2)
