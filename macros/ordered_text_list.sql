{#- Texts of a group joined with `delimiter_text` (a SQL string literal) in the order of
    `order_column`: dbt.listagg where the engine can order inside the aggregate; on Spark,
    collect_list cannot, so the texts are collected with their sort key and sorted first. -#}
{% macro ordered_text_list(measure, delimiter_text, order_column) -%}
    {{ return(adapter.dispatch('ordered_text_list')(measure, delimiter_text, order_column)) }}
{%- endmacro %}

{% macro default__ordered_text_list(measure, delimiter_text, order_column) -%}
    {{ dbt.listagg(measure, delimiter_text, 'order by ' ~ order_column) }}
{%- endmacro %}

{% macro spark__ordered_text_list(measure, delimiter_text, order_column) -%}
    array_join(
        transform(
            array_sort(collect_list(named_struct('sort_key', {{ order_column }}, 'text', {{ measure }}))),
            entry -> entry.text
        ),
        {{ delimiter_text }}
    )
{%- endmacro %}
