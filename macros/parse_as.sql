{#- Cleaned text cast to a type; values that do not parse become null (never an error), so the
    staging layer can quarantine them with a reason. type_name: 'bigint', 'double', 'date' or
    'timestamp'.

    Numbers are parsed strictly and the same way on every engine: a whole number for bigint (a
    decimal such as '2.5' is not rounded into one: it is invalid); a plain or scientific decimal
    for double, so 'NaN', 'inf' and 'Infinity', which the engines would otherwise accept, are
    invalid. Digits are bounded so that no cast can overflow. -#}
{% macro parse_as(column, type_name) -%}
    {%- set types = {
        'bigint': dbt.type_bigint(),
        'double': type_double(),
        'date': 'date',
        'timestamp': dbt.type_timestamp(),
    } -%}
    {%- set number_patterns = {
        'bigint': '[+-]?[0-9]{1,18}',
        'double': '[+-]?([0-9]{1,200}([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?',
    } -%}
    {%- if type_name in number_patterns -%}
        case
            when {{ matches_pattern(clean_string(column), number_patterns[type_name]) }}
                then {{ dbt.safe_cast(clean_string(column), types[type_name]) }}
        end
    {%- else -%}
        {{ dbt.safe_cast(clean_string(column), types[type_name]) }}
    {%- endif -%}
{%- endmacro %}
