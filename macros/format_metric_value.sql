{#- A metric value as short text for people: whole numbers without decimals, others to one
    decimal, then the unit if a unit column is given. Null when the value is null. -#}
{% macro format_metric_value(value_column, unit_column=none) -%}
    {%- set number_text -%}
        case
            when {{ value_column }} = round({{ value_column }})
                then cast(cast({{ value_column }} as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }})
            else cast(round({{ value_column }}, 1) as {{ dbt.type_string() }})
        end
    {%- endset -%}
    {%- if unit_column is none -%}
        {{ number_text }}
    {%- else -%}
        {{ dbt.concat([number_text, "' '", unit_column]) }}
    {%- endif -%}
{%- endmacro %}
