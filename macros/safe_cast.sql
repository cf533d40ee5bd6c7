{#- dbt's default safe_cast is a plain cast on DuckDB, which fails the whole build on one bad
    value. try_cast returns null instead, so staging can quarantine the row with a reason. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
