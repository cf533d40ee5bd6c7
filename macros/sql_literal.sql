{#- A text value as a SQL literal: quoted (quotes doubled), or null for none. -#}
{% macro sql_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{#- Text values as a comma-separated list of SQL literals, for `in (...)`. -#}
{% macro sql_literal_list(values) -%}
    {%- for value in values -%}
        {{ sql_literal(value) }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#- A condition that `column` is none of the text `values` (true when there are none). -#}
{% macro is_not_in_list(column, values) -%}
    {%- if values -%}
        {{ column }} not in ({{ sql_literal_list(values) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
