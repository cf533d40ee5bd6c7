{#- Whether text matches a regular expression in full, on every engine (DuckDB, PostgreSQL and
    Spark each spell it differently). pattern: a POSIX-style expression without anchors. -#}
{% macro matches_pattern(text, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern')(text, pattern)) }}
{%- endmacro %}

{% macro duckdb__matches_pattern(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__matches_pattern(text, pattern) -%}
    ({{ text }} ~ '^({{ pattern }})$')
{%- endmacro %}

{% macro spark__matches_pattern(text, pattern) -%}
    ({{ text }} rlike '^({{ pattern }})$')
{%- endmacro %}
