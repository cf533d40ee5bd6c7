{#- Use the folder's custom schema as is (staging, intermediate, marts, scoring_config), so the
    schema names are stable and BI-facing names never depend on a developer's target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
