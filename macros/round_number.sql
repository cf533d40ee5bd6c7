{#- `value` rounded half away from zero to `digits` decimals, as a double, with the same result on
    every engine: the value is rounded as a decimal, so a double such as 0.285 (stored as
    0.28499999...) rounds up everywhere instead of depending on the engine's float rounding.
    PostgreSQL has no round(double precision, integer) at all.
    Values under 10^7 in size are rounded as decimal(18, 10), which the engines compute in 64-bit
    integers (DuckDB about five times faster than decimal(38, 10)); larger ones as decimal(38, 10).
    Both give the same result wherever the narrower one fits. -#}
{% macro round_number(value, digits=0) -%}
    cast(case
        when abs({{ value }}) < 10000000
            then round(cast({{ value }} as decimal(18, 10)), {{ digits }})
        else round(cast({{ value }} as decimal(38, 10)), {{ digits }})
    end as {{ type_double() }})
{%- endmacro %}
