{#- One row per account per scored date after its first: the previous score, the change, a trend
    (improving / stable / declining, var trend_threshold_points), whether the status fell from the
    best one of the health_statuses seed (healthy) to a worse one, and the metrics that moved the
    score most, in words. Holds the dates this build scores and every later published date (their
    previous date may be a rescored one), compared with published history where the previous date
    is not scored by this build. -#}

with

score_history as (

    {{ history_since_previous_date('customer_health_score_history', [
        'account_id', 'as_of_date', 'account_name', 'segment', 'health_score', 'grade', 'status',
        'scoring_config_version', 'driver_1', 'mrr_amount',
    ]) }}

),

attribution as (

    select * from {{ ref('customer_health_score_change_attribution') }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

),

ranked_statuses as (

    select
        status,
        status_rank = min(status_rank) over () as is_best_status

    from health_statuses

),

with_previous as (

    select
        score_history.account_id,
        score_history.as_of_date,
        score_history.account_name,
        score_history.segment,
        score_history.health_score,
        score_history.grade,
        score_history.status,
        score_history.scoring_config_version,
        score_history.driver_1,
        score_history.mrr_amount,
        lag(score_history.as_of_date) over account_history as previous_as_of_date,
        lag(score_history.health_score) over account_history as previous_health_score,
        lag(score_history.grade) over account_history as previous_grade,
        lag(score_history.status) over account_history as previous_status,
        lag(score_history.scoring_config_version) over account_history
            as previous_scoring_config_version

    from score_history
    window account_history as (
        partition by score_history.account_id order by score_history.as_of_date
    )

),

movers as (

    select
        account_id,
        as_of_date,
        {{ ordered_text_list(
            measure=dbt.concat([
                'display_name', "' '",
                format_metric_value('previous_metric_value'),
                "' -> '",
                format_metric_value('metric_value'),
                "' ('",
                "case when points_change >= 0 then '+' else '' end",
                number_text('points_change'),
                "')'",
            ]),
            delimiter_text="', '",
            order_column='change_rank',
        ) }} as change_explanation

    from attribution
    where change_rank <= {{ var('driver_count') }} and {{ round_number('points_change', 1) }} != 0
    group by account_id, as_of_date

),

final as (

    select
        with_previous.account_id,
        with_previous.as_of_date,
        with_previous.previous_as_of_date,
        with_previous.account_name,
        with_previous.segment,
        with_previous.previous_health_score,
        with_previous.health_score,
        {{ round_number('with_previous.health_score - with_previous.previous_health_score', 1) }}
            as score_change,
        case
            when
                with_previous.health_score - with_previous.previous_health_score
                >= {{ var('trend_threshold_points') }}
                then 'improving'
            when
                with_previous.previous_health_score - with_previous.health_score
                >= {{ var('trend_threshold_points') }}
                then 'declining'
            else 'stable'
        end as trend,
        with_previous.previous_grade,
        with_previous.grade,
        with_previous.previous_status,
        with_previous.status,
        previous_statuses.is_best_status and not current_statuses.is_best_status
            as is_newly_at_risk,
        with_previous.previous_scoring_config_version != with_previous.scoring_config_version
            as is_scoring_config_changed,
        movers.change_explanation,
        with_previous.driver_1,
        with_previous.mrr_amount

    from with_previous
    inner join ranked_statuses as current_statuses
        on with_previous.status = current_statuses.status
    inner join ranked_statuses as previous_statuses
        on with_previous.previous_status = previous_statuses.status
    left join movers
        on
            with_previous.account_id = movers.account_id
            and with_previous.as_of_date = movers.as_of_date
    where with_previous.as_of_date >= {{ first_rescored_date() }}

)

select * from final
