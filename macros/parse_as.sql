{#- Cleaned text cast to a type; values that do not parse become null (never an error), so the
    staging layer can quarantine them with a reason. type_name: a dbt type macro name such as
    'bigint', 'double', 'date' or 'timestamp'. -#}
{% macro parse_as(column, type_name) -%}
    {%- set types = {
        'bigint': dbt.type_bigint(),
        'double': type_double(),
        'date': 'date',
        'timestamp': dbt.type_timestamp(),
    } -%}
    {{ dbt.safe_cast(clean_string(column), types[type_name]) }}
{%- endmacro %}
