{#- The engine's double-precision float type (dbt's type_float() is a 4-byte float on DuckDB).
    Read from the `column_types` var, the one type map per engine that the YAML uses too. -#}
{% macro type_double() -%}
    {{ var('column_types')[target.type].double }}
{%- endmacro %}
