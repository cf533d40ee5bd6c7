-- Every value an attribute metric meets has a rank in seed attribute_values: an unranked value
-- (a new contract type, a typo in the data) scores as N/A, so it is named here, as a warning.
{{ config(severity='warn') }}
{%- set attribute_metrics = var('attribute_metrics') or {} %}

with

attributes as (

    select
        'crm.accounts' as raw_table,
        attribute_name,
        attribute_value
    from {{ ref('stg_crm__account_attributes') }}
    union all
    select
        'billing.subscriptions' as raw_table,
        attribute_name,
        attribute_value
    from {{ ref('stg_billing__subscription_attributes') }}

),

metric_values as (

    select
        cast(null as {{ dbt.type_string() }}) as metric_name,
        attribute_value
    from attributes
    where 1 = 0
    {%- for metric_name, attribute in attribute_metrics.items() %}
    union all
    select
        '{{ metric_name }}' as metric_name,
        attribute_value
    from attributes
    where
        raw_table = '{{ attribute.rsplit(".", 1)[0] }}'
        and attribute_name = '{{ attribute.rsplit(".", 1)[1] | trim | lower }}'
        and attribute_value is not null
    {%- endfor %}

)

select distinct
    metric_values.metric_name,
    metric_values.attribute_value,
    'attribute metric ' || metric_values.metric_name || ' meets value '
    || metric_values.attribute_value || ', which seed attribute_values does not rank' as problem
from metric_values
left join {{ ref('attribute_values') }} as attribute_values
    on
        metric_values.metric_name = attribute_values.metric_name
        and lower(metric_values.attribute_value) = lower(attribute_values.attribute_value)
where attribute_values.metric_name is null
