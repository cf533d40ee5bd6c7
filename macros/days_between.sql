{#- Whole days from `start_date` to `end_date` as a bigint on every engine (dbt.datediff returns
    bigint on DuckDB but integer on PostgreSQL and Spark, which model contracts would reject). -#}
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as {{ dbt.type_bigint() }})
{%- endmacro %}
