{#- On a staging model: nothing is dropped silently. The raw table it stages (the source upstream
    of it, from the graph, read as its base model reads it: raw_rows) has as many rows as the
    model plus that table's rows in quarantined_source_rows. -#}
{% test raw_rows_are_staged_or_quarantined(model) %}
{%- set staged = namespace(raw_table=none) -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias == model.identifier
            and node.schema == model.schema -%}
            {%- set staged.raw_table = raw_source_upstream_of(node) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- set raw_table = staged.raw_table -%}

with

counts as (

    select
        (
            select count(*) from (
                {{ raw_rows(source(raw_table.source_name, raw_table.name)) if raw_table }}
            ) as raw_table_rows
        ) as raw_rows,
        (select count(*) from {{ model }}) as staged_rows,
        (
            select count(*) from {{ ref('quarantined_source_rows') }}
            where
                source_name = '{{ raw_table.source_name }}'
                and table_name = '{{ raw_table.name }}'
        ) as quarantined_rows

)

select *
from counts
where raw_rows != staged_rows + quarantined_rows

{% endtest %}
