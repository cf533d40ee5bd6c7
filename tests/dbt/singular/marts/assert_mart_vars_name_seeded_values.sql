-- The vars that name seed rows in the marts still name rows of those seeds, so renaming a
-- metric or a status in a seed fails the build instead of emptying an outreach list or the
-- scores (the low-coverage cap joins on its status).
with

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

),

named_metrics as (
    {#- a null metric var means the deployment builds no such list #}

    select
        'promoter_csat_metric' as var_name,
        {{ sql_literal(var('promoter_csat_metric')) }} as metric_name
    union all
    select
        'upsell_usage_metric' as var_name,
        {{ sql_literal(var('upsell_usage_metric')) }} as metric_name
    union all
    select
        'detractor_usage_metric' as var_name,
        {{ sql_literal(var('detractor_usage_metric')) }} as metric_name

),

named_statuses as (

    select
        'low_coverage_status' as var_name,
        '{{ var("low_coverage_status") }}' as status

),

final as (

    select
        named_metrics.var_name,
        named_metrics.metric_name as missing_value
    from named_metrics
    left join metric_definitions
        on named_metrics.metric_name = metric_definitions.metric_name
    where
        named_metrics.metric_name is not null
        and metric_definitions.metric_name is null

    union all

    select
        named_statuses.var_name,
        named_statuses.status as missing_value
    from named_statuses
    left join health_statuses
        on named_statuses.status = health_statuses.status
    where health_statuses.status is null

)

select * from final
