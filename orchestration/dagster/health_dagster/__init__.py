"""The gated refresh as Dagster assets: the dbt project (dagster-dbt), the quality gate as
blocking asset checks on the marts it audits, and the publish as the `health.*` assets BI reads.

`definitions.py` beside this package is the code location (`dagster dev -f definitions.py`).
"""
