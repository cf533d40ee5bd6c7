{#- Fails once per group whose weights do not sum to 1 (within `tolerance`). -#}
{% test weights_sum_to_one(model, group_by, weight_column, tolerance=0.000001) %}

select
    {{ group_by }},
    sum({{ weight_column }}) as total_weight
from {{ model }}
group by {{ group_by }}
having abs(sum({{ weight_column }}) - 1) > {{ tolerance }}

{% endtest %}
