{#- Fails when the model has no rows. -#}
{% test not_empty(model) %}

select 1 as empty_model
from (select count(*) as row_count from {{ model }}) as counted
where row_count = 0

{% endtest %}
