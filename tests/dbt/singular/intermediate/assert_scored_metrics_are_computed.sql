-- Every metric the deployment scores is computed: each catalogue metric (seed
-- metric_definitions) not switched off (var disabled_metrics) and whose raw table is present
-- (var absent_raw_tables) has values for the accounts scored. A catalogue row with a misspelt
-- or unknown metric name would otherwise just drop out of every score.
with

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

metric_values as (

    select * from {{ ref('int_account_metric_values') }}

),

scored_metrics as (

    select metric_name
    from metric_definitions
    where
        metric_name is not null
    {%- for metric in var('disabled_metrics') or [] %}
        and metric_name <> '{{ metric }}'
    {%- endfor %}
    {%- for table in var('absent_raw_tables') or [] %}
        and raw_table <> '{{ table }}'
    {%- endfor %}

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
