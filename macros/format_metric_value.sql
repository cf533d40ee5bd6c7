{#- A metric value as short text for people: whole numbers without decimals, others to one
    decimal, then the unit if a unit column is given. Null when the value is null. -#}
{% macro format_metric_value(value_column, unit_column=none) -%}
    {%- if unit_column is none -%}
        {{ number_text(value_column) }}
    {%- else -%}
        {{ dbt.concat([number_text(value_column), "' '", unit_column]) }}
    {%- endif -%}
{%- endmacro %}
