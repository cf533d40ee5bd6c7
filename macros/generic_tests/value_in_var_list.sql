{#- Fails on rows whose value is not in the list held by a dbt var (e.g. score_categories), so a
    list used to build columns and the data it applies to cannot drift apart. -#}
{% test value_in_var_list(model, column_name, var_name) %}

select *
from {{ model }}
where {{ column_name }} not in (
    {%- for value in var(var_name) %}
    '{{ value }}'{% if not loop.last %},{% endif %}
    {%- endfor %}
)

{% endtest %}
