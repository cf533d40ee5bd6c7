{#- The published copy of a history model, source('health', model_name): the source of truth for
    every date this build does not score. On a warehouse where nothing is published yet, the model
    itself with no rows stands in (a published relation has its model's columns and types), so a
    first build needs no table that dbt does not make. In a dbt unit test the source is the test's
    fixture. -#}
{% macro published_history(model_name) -%}
    {%- set published = source('health', model_name) -%}
    {%- if published.is_cte or (execute and adapter.get_relation(
        database=published.database, schema=published.schema, identifier=published.identifier
    ) is not none) -%}
        {{ published }}
    {%- else -%}
        (select * from {{ ref(model_name) }} where 1 = 0)
    {%- endif -%}
{%- endmacro %}
