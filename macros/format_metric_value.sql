{#- A metric value as short text for people: whole numbers without decimals, others to one
    decimal, followed by the unit. -#}
{% macro format_metric_value(value_column, unit_column) -%}
    {{ dbt.concat([
        "case when " ~ value_column ~ " = round(" ~ value_column ~ ") then cast(cast("
            ~ value_column ~ " as " ~ dbt.type_bigint() ~ ") as " ~ dbt.type_string()
            ~ ") else cast(round(" ~ value_column ~ ", 1) as " ~ dbt.type_string() ~ ") end",
        "' '",
        unit_column,
    ]) }}
{%- endmacro %}
