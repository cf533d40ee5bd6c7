{#- Fails on rows where the column is outside [min_value, max_value] (nulls pass). -#}
{% test in_range(model, column_name, min_value, max_value) %}

select *
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
