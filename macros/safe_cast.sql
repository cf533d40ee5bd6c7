{#- dbt's default safe_cast is a plain cast on DuckDB, PostgreSQL and Spark (ANSI mode), which
    fails the whole build on one bad value. These return null instead, so staging can quarantine
    the row with a reason, on every engine. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{#- PostgreSQL 15 has no try_cast: dates and timestamps go through functions that catch the cast
    error (created by create_safe_cast_functions, an on-run-start hook; `parallel unsafe`, because
    catching an error opens a subtransaction, which no process of a parallel plan may do, the
    leader included). Numbers are cast plainly: parse_as lets through only text that is a valid
    number of the type. -#}
{% macro postgres__safe_cast(field, type) -%}
    {%- if type in safe_cast_function_types() -%}
        {{ safe_cast_function(type) }}(cast({{ field }} as text))
    {%- else -%}
        cast({{ field }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{% macro safe_cast_function_types() -%}
    {{ return(['date', dbt.type_timestamp()]) }}
{%- endmacro %}

{% macro safe_cast_function(type) -%}
    {{ target.schema }}.health_try_cast_{{ type | replace(' ', '_') }}
{%- endmacro %}

{% macro create_safe_cast_functions() -%}
    {{ return(adapter.dispatch('create_safe_cast_functions')()) }}
{%- endmacro %}

{% macro default__create_safe_cast_functions() -%}
    select 1
{%- endmacro %}

{% macro postgres__create_safe_cast_functions() -%}
    create schema if not exists {{ target.schema }};
    {%- for type in safe_cast_function_types() %}
    create or replace function {{ safe_cast_function(type) }}(value text)
    returns {{ type }} language plpgsql immutable parallel unsafe as $$
    begin
        return cast(value as {{ type }});
    exception when others then
        return null;
    end
    $$;
    {%- endfor %}
{%- endmacro %}
