"""A stop request (SIGINT / SIGTERM) that no library can swallow.

The command line's signal handler records the request here before raising. An engine client may
catch the exception it raises (the DuckDB client turns an interrupt into its own error, which a
step could report as an ordinary failure and carry on), but the record stays: the publish step
checks it last thing before it commits, so a stopped run never publishes.
"""

from __future__ import annotations

import threading

from customer_health.errors import InterruptedRunError

_stop_requested = threading.Event()
_reason: list[str] = []


def request_stop(reason: str) -> None:
    _reason[:] = [reason]
    _stop_requested.set()


def stop_requested() -> bool:
    return _stop_requested.is_set()


def raise_if_stopped() -> None:
    """Raise InterruptedRunError when a stop was requested at any time during this run."""
    if _stop_requested.is_set():
        reason = _reason[0] if _reason else "a stop request"
        raise InterruptedRunError(f"interrupted by {reason}; nothing was published")
