-- Every metric the deployment scores (int_scored_metrics: not switched off, its raw table
-- present) has values for the accounts scored. A catalogue row with a misspelt
-- or unknown metric name would otherwise just drop out of every score.
with

metric_values as (

    select * from {{ ref('int_account_metric_values') }}

),

scored_metrics as (

    select * from {{ ref('int_scored_metrics') }}

),

computed_metrics as (

    select distinct metric_name from metric_values

)

select
    scored_metrics.metric_name,
    'metric ' || scored_metrics.metric_name
    || ' is in the catalogue but no metric model computes it' as problem
from scored_metrics
left join computed_metrics
    on scored_metrics.metric_name = computed_metrics.metric_name
where
    computed_metrics.metric_name is null
    and exists (select 1 from metric_values)
