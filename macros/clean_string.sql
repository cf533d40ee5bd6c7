{#- Trimmed text with empty strings turned into null. -#}
{% macro clean_string(column) -%}
    nullif(trim(cast({{ column }} as {{ dbt.type_string() }})), '')
{%- endmacro %}
