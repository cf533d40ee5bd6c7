{#- A number as text for people, identical on every engine: rounded to `decimals` decimals, and
    whole numbers without a decimal part ("16", "16.5", "-0.5"). Null when the value is null. -#}
{% macro number_text(value, decimals=1) -%}
    case
        when {{ round_number(value, decimals) }} = {{ round_number(value) }}
            then cast(cast({{ round_number(value) }} as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }})
        else cast(
            cast({{ round_number(value, decimals) }} as decimal(38, {{ decimals }}))
            as {{ dbt.type_string() }}
        )
    end
{%- endmacro %}
