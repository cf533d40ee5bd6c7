{#- `value` rounded half away from zero to `digits` decimals, as a double, with the same result on
    every engine: the value is rounded as a decimal, so a double such as 0.285 (stored as
    0.28499999...) rounds up everywhere instead of depending on the engine's float rounding.
    PostgreSQL has no round(double precision, integer) at all. -#}
{% macro round_number(value, digits=0) -%}
    cast(round(cast({{ value }} as decimal(38, 10)), {{ digits }}) as {{ type_double() }})
{%- endmacro %}
