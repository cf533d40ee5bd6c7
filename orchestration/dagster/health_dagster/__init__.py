"""The gated refresh as Dagster assets: the dbt project (dagster-dbt), the quality gate as
blocking asset checks on the marts it audits, and the publish as the `health.*` assets BI reads.

The code location is `health_dagster.definitions:defs` (workspace.yaml beside this package).
"""
