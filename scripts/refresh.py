"""`health refresh` for schedulers that call a file rather than a command (cron, a plain
Airflow BashOperator without the virtualenv on PATH): `.venv/bin/python scripts/refresh.py
[--as-of-date YYYY-MM-DD] [--target duckdb|postgres|spark] [--json]`. Same flags and exit codes.
"""

import sys

from customer_health.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["refresh"]
    main()
