{#- The keyword that makes a CTE computed once however often it is read (DuckDB, PostgreSQL); Spark
    has none and plans each reference on its own. -#}
{% macro materialized_cte() -%}
    {{ '' if target.type == 'spark' else 'materialized' }}
{%- endmacro %}
