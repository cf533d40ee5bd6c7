"""`python -m customer_health` is the `health` command."""

from customer_health.cli import main

main()
