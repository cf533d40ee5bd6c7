{#- Each segment's weight per scored metric (int_scored_metrics): the segment_weights seed sums
    to 1 over the whole catalogue, so a deployment that scores fewer metrics (an optional system
    absent, a metric switched off) renormalises them to sum to 1 again. Where every metric is
    scored, the weights are the seed's. -#}

with

segment_weights as (

    select * from {{ ref('segment_weights') }}

),

scored_metrics as (

    select * from {{ ref('int_scored_metrics') }}

),

scored_weights as (

    select
        segment_weights.segment,
        segment_weights.metric_name,
        cast(segment_weights.weight as {{ type_double() }}) as seed_weight,
        {{ round_number(
            'sum(segment_weights.weight) over (partition by segment_weights.segment)', 9
        ) }} as scored_weight_total

    from segment_weights
    inner join scored_metrics
        on segment_weights.metric_name = scored_metrics.metric_name

),

final as (

    select
        segment,
        metric_name,
        {{ round_number('seed_weight / nullif(scored_weight_total, 0)', 9) }} as weight

    from scored_weights

)

select * from final
