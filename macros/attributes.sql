{#- Attributes: extra columns of a raw table that a deployment keeps (var attribute_columns,
    '<source>.<table>' -> column names), for attribute metrics (var attribute_metrics) and the
    snapshot outcome (var snapshot_outcome_column). The base model carries each as text column
    attribute__<column>; its stg_<source>__<entity>_attributes model lists them long, one row per
    key and attribute, so that models never depend on which attributes a deployment has. -#}

{#- The attribute columns a deployment keeps for raw table `name` ('<source>.<table>'), trimmed
    and lowercase (raw_rows reads them under those names). -#}
{% macro attribute_columns(name) -%}
    {%- set names = [] -%}
    {%- for column in (var('attribute_columns') or {}).get(name, []) -%}
        {%- do names.append(column | trim | lower) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- Select items typing raw table `name`'s attribute columns (trimmed text, empty = null), each
    followed by a comma: for a base model's typed CTE. -#}
{% macro typed_attribute_columns(name) -%}
    {%- for column in attribute_columns(name) %}
        {{ clean_string(column) }} as attribute__{{ column }},
    {%- endfor %}
{%- endmacro %}


{#- Select items carrying the typed attribute columns on, each followed by a comma. -#}
{% macro attribute_column_names(name) -%}
    {%- for column in attribute_columns(name) %}
        attribute__{{ column }},
    {%- endfor %}
{%- endmacro %}


{#- The attributes of the clean rows of base model `relation` (raw table `name`), long:
    (<key_column>, attribute_name, attribute_value), none when the deployment keeps none. -#}
{% macro attribute_rows(relation, name, key_column) -%}
    {%- set columns = attribute_columns(name) -%}
    {%- for column in columns %}
    select
        {{ key_column }},
        '{{ column }}' as attribute_name,
        attribute__{{ column }} as attribute_value
    from {{ relation }}
    where quarantine_reason is null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as {{ key_column }},
        cast(null as {{ dbt.type_string() }}) as attribute_name,
        cast(null as {{ dbt.type_string() }}) as attribute_value
    from {{ relation }}
    where 1 = 0
    {%- endfor %}
{%- endmacro %}
