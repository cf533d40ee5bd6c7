{#- When this dbt invocation started (run_started_at, UTC), as a timestamp literal: the same
    value in every row a run writes. -#}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
