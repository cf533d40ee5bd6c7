{#- Wide metric columns to the long (account_id, as_of_date, metric_name, metric_value) shape,
    with portable union all (no engine-specific unpivot). -#}
{% macro unpivot_metrics(relation, metric_columns) -%}
    {%- for metric in metric_columns %}
    select
        account_id,
        as_of_date,
        '{{ metric }}' as metric_name,
        cast({{ metric }} as {{ type_double() }}) as metric_value
    from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
