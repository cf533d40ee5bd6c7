{#- How much each metric adds to and takes from an account's score. Weights are renormalised over
    the metrics that have points, so `effective_weight` sums to 1 per account and as-of date,
    `points_contributed` sums to the score and `points_lost` sums to 100 minus the score. The
    metrics losing the most points are the score's drivers, in words: the value as
    format_metric_value writes it (`value_text`, the band's label for flags and categories) and
    the points it costs. -#}

with

metric_points as (

    select * from {{ ref('int_account_metric_points') }}

),

scored_weights as (

    select
        *,
        -- Rounded so that the order a parallel engine sums in cannot change the last digits.
        {{ round_number(
            'sum(case when points is not null then weight end)'
            ' over (partition by account_id, as_of_date)',
            9,
        ) }} as scored_weight

    from metric_points

),

contributions as (

    select
        *,
        case
            when points is not null then weight / nullif(scored_weight, 0)
        end as effective_weight

    from scored_weights

),

losses as (

    select
        *,
        {{ round_number('effective_weight * points', 6) }} as points_contributed,
        {{ round_number('effective_weight * (100 - points)', 6) }} as points_lost

    from contributions

),

ranked as (

    select
        *,
        case
            -- bigint on every engine (Spark's row_number() is an int).
            when points_lost > 0
                then cast(row_number() over (
                    partition by account_id, as_of_date
                    order by coalesce(points_lost, -1) desc, metric_name
                ) as bigint)
        end as driver_rank,
        case
            when unit in ('flag', 'category') then band_label
            else {{ format_metric_value(
                'metric_value', 'unit', 'unit_singular', 'zero_value_text'
            ) }}
        end as value_text,
        {{ format_metric_value('points_lost', "'points'", "'point'") }} as points_lost_text

    from losses

),

final as (

    select
        account_id,
        as_of_date,
        segment,
        metric_name,
        category,
        display_name,
        unit,
        metric_value,
        has_data,
        band_label,
        points,
        weight,
        effective_weight,
        points_contributed,
        points_lost,
        driver_rank,
        value_text,
        case
            when driver_rank is null then null
            when unit in ('flag', 'category')
                then {{ dbt.concat([
                    'display_name', "': '", 'value_text', "', costs '", 'points_lost_text',
                ]) }}
            else {{ dbt.concat([
                'display_name', "': '", 'value_text', "' ('", 'band_label', "'), costs '",
                'points_lost_text',
            ]) }}
        end as driver_text

    from ranked

)

select * from final
