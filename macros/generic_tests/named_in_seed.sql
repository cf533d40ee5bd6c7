{#- Fails on rows that name a value (a segment, plan tier, lifecycle stage, metric, status) which
    the seed defining it does not hold, so a typo in one configuration seed cannot silently score
    accounts with another rule. `wildcard` (e.g. '*', "any") is always allowed. Each failing row
    says which seed, column and value are wrong, in a column `problem`. -#}
{% test named_in_seed(model, column_name, to, field, wildcard=none) %}

with

defined as (

    select distinct {{ field }} as defined_value
    from {{ to }}

),

named as (

    select *
    from {{ model }}
    where {{ column_name }} is not null
    {%- if wildcard is not none %}
        and {{ column_name }} <> '{{ wildcard }}'
    {%- endif %}

)

select
    named.*,
    concat(
        '{{ model.identifier }}.{{ column_name }} = ''',
        cast(named.{{ column_name }} as {{ dbt.type_string() }}),
        ''' is not a {{ field }} of {{ to.identifier }}'
    ) as problem
from named
left join defined
    on named.{{ column_name }} = defined.defined_value
where defined.defined_value is null

{% endtest %}
