{#- Why a score moved: per account, as-of date and metric, the metric's value and the points it
    contributed on this and on the previous scored date, and the difference. The differences sum to
    the change of the unrounded score (a metric without points contributes 0). Holds the dates
    this build scores and every later published date (their previous date may be a rescored one),
    compared with published history where the previous date is not scored by this build. -#}

with

component_history as (

    {{ history_since_previous_date('customer_health_score_component_history', [
        'account_id', 'as_of_date', 'metric_name', 'display_name', 'unit', 'metric_value',
        'points_contributed',
    ]) }}

),

with_previous as (

    select
        account_id,
        as_of_date,
        metric_name,
        display_name,
        unit,
        metric_value,
        coalesce(points_contributed, 0) as points_contributed,
        lag(as_of_date) over metric_history as previous_as_of_date,
        lag(metric_value) over metric_history as previous_metric_value,
        coalesce(lag(points_contributed) over metric_history, 0)
            as previous_points_contributed

    from component_history
    window metric_history as (partition by account_id, metric_name order by as_of_date)

),

final as (

    select
        account_id,
        as_of_date,
        metric_name,
        previous_as_of_date,
        display_name,
        unit,
        previous_metric_value,
        metric_value,
        previous_points_contributed,
        points_contributed,
        {{ round_number('points_contributed - previous_points_contributed', 6) }} as points_change,
        -- bigint on every engine (Spark's row_number() is an int).
        cast(row_number() over (
            partition by account_id, as_of_date
            order by abs(points_contributed - previous_points_contributed) desc, metric_name
        ) as bigint) as change_rank

    from with_previous
    where previous_as_of_date is not null and as_of_date >= {{ first_rescored_date() }}

)

select * from final
