{#- A metric value as short text for people, the same on every engine: the number as
    number_text writes it (whole numbers without decimals, others to one decimal), then the unit,
    singular when the number reads as 1 or -1 ("1 day", "2 days", "0.5 days"). Arguments are
    SQL expressions (columns or literals):
    - unit: the unit after the number; none = the number alone;
    - unit_singular: the unit for 1 and -1; null or none = `unit` whatever the number;
    - zero_text: what a value of exactly 0 reads as ("no activity in 30 days"); null or none =
      the number and unit.
    'N/A' when the value is null (no data). -#}
{% macro format_metric_value(value, unit=none, unit_singular=none, zero_text=none) -%}
    case
        when {{ value }} is null then 'N/A'
        {%- if zero_text is not none %}
        when {{ value }} = 0 and {{ zero_text }} is not null then {{ zero_text }}
        {%- endif %}
        {%- if unit is none %}
        else {{ number_text(value) }}
        {%- else %}
        else {{ dbt.concat([number_text(value), "' '", unit_for_number(value, unit, unit_singular)]) }}
        {%- endif %}
    end
{%- endmacro %}


{#- The unit to write after `value`: `unit_singular` when the value, rounded as number_text
    writes it, is 1 or -1 and a singular is given; `unit` otherwise. -#}
{% macro unit_for_number(value, unit, unit_singular=none) -%}
    {%- if unit_singular is none -%}
        {{ unit }}
    {%- else -%}
        case
            when abs({{ round_number(value, 1) }}) = 1 then coalesce({{ unit_singular }}, {{ unit }})
            else {{ unit }}
        end
    {%- endif -%}
{%- endmacro %}

