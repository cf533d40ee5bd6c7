-- The deployment vars that name metrics (disabled_metrics, attribute_metrics) name metrics of
-- the catalogue (seed metric_definitions), and no attribute metric reads the snapshot outcome:
-- an outcome observed after the snapshot must never feed the score it evaluates.
{%- set named = [] %}
{%- for metric in var('disabled_metrics') or [] %}
    {%- do named.append(('disabled_metrics', metric)) %}
{%- endfor %}
{%- for metric, attribute in (var('attribute_metrics') or {}).items() %}
    {%- do named.append(('attribute_metrics', metric)) %}
{%- endfor %}
with

named_metrics as (

    select
        cast(null as {{ dbt.type_string() }}) as var_name,
        cast(null as {{ dbt.type_string() }}) as metric_name
    where 1 = 0
    {%- for var_name, metric in named %}
    union all
    select '{{ var_name }}' as var_name, '{{ metric }}' as metric_name
    {%- endfor %}

),

unknown_metrics as (

    select
        named_metrics.var_name,
        named_metrics.metric_name,
        'var ' || named_metrics.var_name || ' names ' || named_metrics.metric_name
        || ', which is not in seed metric_definitions' as problem
    from named_metrics
    left join {{ ref('metric_definitions') }} as metric_definitions
        on named_metrics.metric_name = metric_definitions.metric_name
    where metric_definitions.metric_name is null

),

outcome_metrics as (
    {%- set outcome = var('snapshot_outcome_column') %}

    select
        'attribute_metrics' as var_name,
        metric_name,
        'attribute metric ' || metric_name || ' reads the snapshot outcome' as problem
    from named_metrics
    where
        1 = 0
        {%- for metric, attribute in (var('attribute_metrics') or {}).items()
            if outcome and attribute | lower == 'crm.accounts.' ~ outcome | lower %}
        or metric_name = '{{ metric }}'
        {%- endfor %}

)

select * from unknown_metrics
union all
select * from outcome_metrics
