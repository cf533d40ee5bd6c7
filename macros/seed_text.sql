{#- A text column of a seed, null where the CSV cell is empty, on every engine. dbt-spark loads
    seeds by formatting each value into the insert statement, so an empty text cell arrives as
    the text 'None' there; elsewhere it is null. -#}
{% macro seed_text(column) -%}
    {{ return(adapter.dispatch('seed_text')(column)) }}
{%- endmacro %}

{% macro default__seed_text(column) -%}
    {{ column }}
{%- endmacro %}

{% macro spark__seed_text(column) -%}
    nullif({{ column }}, 'None')
{%- endmacro %}
