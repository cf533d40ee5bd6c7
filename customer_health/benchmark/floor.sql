-- Performance floor: the per-account metric values and points of int_account_metric_points for
-- one as-of date, written by hand straight from the raw Parquet tables (no quarantine tables,
-- history or tests). Rendered by floor.py (same folder) with string.Template: $$raw_dir,
-- $$seeds_dir, $$as_of_date and the dbt vars from dbt_project.yml.
--
-- Staging semantics kept (models/staging/*/base): per repeated key only the first row survives,
-- and only if it is valid; every other copy is dropped. Typed Parquet is taken as clean text (no
-- padding or empty strings), so strings are not trimmed.

create or replace table floor_metric_points as

with

-- Raw tables --------------------------------------------------------------------------------

raw_accounts as (
    select * from read_parquet('$raw_dir/ravenstack_accounts/*.parquet')
),

raw_subscriptions as (
    select * from read_parquet('$raw_dir/ravenstack_subscriptions/*.parquet')
),

-- Scanned where used, never copied whole into memory.
raw_usage as not materialized (
    select * from read_parquet('$raw_dir/ravenstack_feature_usage/*.parquet')
),

raw_tickets as (
    select * from read_parquet('$raw_dir/ravenstack_support_tickets/*.parquet')
),

-- Staged tables. Per key only the first row survives, and only if its values are valid: first by
-- the '|'-joined raw values (the key, equal within a key, left out), for usage by the typed
-- values in column order. Keys occurring once need no ranking, so only repeated keys are ranked.

duplicated_account_ids as (
    select account_id from raw_accounts
    where account_id is not null
    group by account_id having count(*) > 1
),

accounts as (
    select account_id, cast(signup_date as date) as signup_date
    from (
        select * from raw_accounts
        where account_id is not null
            and account_id not in (select account_id from duplicated_account_ids)
        union all by name
        select * from raw_accounts
        where account_id in (select account_id from duplicated_account_ids)
        qualify row_number() over (
            partition by account_id
            order by
                coalesce(cast(account_name as varchar), '') || '|'
                || coalesce(cast(industry as varchar), '') || '|'
                || coalesce(cast(country as varchar), '') || '|'
                || coalesce(cast(signup_date as varchar), '') || '|'
                || coalesce(cast(referral_source as varchar), '') || '|'
                || coalesce(cast(plan_tier as varchar), '') || '|'
                || coalesce(cast(seats as varchar), '') || '|'
                || coalesce(cast(is_trial as varchar), '')
        ) = 1
    )
    where signup_date is not null and (seats is null or seats >= 0)
),

duplicated_subscription_ids as (
    select subscription_id from raw_subscriptions
    where subscription_id is not null
    group by subscription_id having count(*) > 1
),

subscriptions as (
    select *
    from (
        select
            subscription_id,
            account_id,
            cast(start_date as date) as start_date,
            cast(end_date as date) as end_date,
            plan_tier,
            cast(seats as bigint) as seats,
            cast(mrr_amount as double) as mrr_amount,
            cast(arr_amount as double) as arr_amount,
            cast(is_trial as boolean) as is_trial,
            cast(downgrade_flag as boolean) as is_downgrade,
            cast(auto_renew_flag as boolean) as is_auto_renew
        from (
            select * from raw_subscriptions
            where subscription_id is not null
                and subscription_id not in (select subscription_id from duplicated_subscription_ids)
            union all by name
            select * from raw_subscriptions
            where subscription_id in (select subscription_id from duplicated_subscription_ids)
            qualify row_number() over (
                partition by subscription_id
                order by
                    coalesce(cast(account_id as varchar), '') || '|'
                    || coalesce(cast(start_date as varchar), '') || '|'
                    || coalesce(cast(end_date as varchar), '') || '|'
                    || coalesce(cast(plan_tier as varchar), '') || '|'
                    || coalesce(cast(seats as varchar), '') || '|'
                    || coalesce(cast(mrr_amount as varchar), '') || '|'
                    || coalesce(cast(arr_amount as varchar), '') || '|'
                    || coalesce(cast(is_trial as varchar), '') || '|'
                    || coalesce(cast(upgrade_flag as varchar), '') || '|'
                    || coalesce(cast(downgrade_flag as varchar), '') || '|'
                    || coalesce(cast(churn_flag as varchar), '') || '|'
                    || coalesce(cast(billing_frequency as varchar), '') || '|'
                    || coalesce(cast(auto_renew_flag as varchar), '')
            ) = 1
        )
    )
    where
        account_id is not null
        and start_date is not null
        and (end_date is null or end_date >= start_date)
        and plan_tier is not null
        and seats >= 0
        and mrr_amount >= 0
        and (arr_amount is null or arr_amount >= 0)
        and is_trial is not null
        and is_auto_renew is not null
),

-- Usage is large, so only its look-back rows are staged; an id's first row is still decided
-- over the whole table (as in base_product_usage__feature_usage: typed values, not raw text).
usage_in_lookback as (
    select * from raw_usage
    where
        usage_date <= date '$as_of_date'
        and usage_date > date '$as_of_date'
        - greatest(2 * $usage_window_days, $feature_breadth_window_days)
),

duplicated_usage_ids as (
    select usage_id from raw_usage
    where usage_id in (select usage_id from usage_in_lookback)
    group by usage_id having count(*) > 1
),

usage_rows as (
    select
        subscription_id,
        cast(usage_date as date) as usage_date,
        feature_name,
        cast(usage_count as bigint) as usage_count,
        cast(usage_duration_secs as bigint) as usage_duration_secs,
        cast(error_count as bigint) as error_count
    from (
        select * from usage_in_lookback
        where usage_id is not null
            and usage_id not in (select usage_id from duplicated_usage_ids)
        union all by name
        select * from raw_usage
        where usage_id in (select usage_id from duplicated_usage_ids)
        qualify row_number() over (
            partition by usage_id
            order by
                subscription_id, usage_date, feature_name, usage_count, usage_duration_secs,
                error_count, is_beta_feature
        ) = 1
    )
    where
        subscription_id is not null
        and usage_date is not null
        and feature_name is not null
        and usage_count >= 0
        and error_count >= 0
        and usage_duration_secs >= 0
),

duplicated_ticket_ids as (
    select ticket_id from raw_tickets
    where ticket_id is not null
    group by ticket_id having count(*) > 1
),

tickets as (
    select *
    from (
        select
            account_id,
            cast(submitted_at as date) as submitted_date,
            cast(closed_at as timestamp) as closed_at,
            cast(resolution_time_hours as double) as resolution_time_hours,
            lower(priority) as priority,
            cast(first_response_time_minutes as double) as first_response_minutes,
            cast(satisfaction_score as double) as csat_score,
            cast(escalation_flag as boolean) as is_escalated
        from (
            select * from raw_tickets
            where ticket_id is not null
                and ticket_id not in (select ticket_id from duplicated_ticket_ids)
            union all by name
            select * from raw_tickets
            where ticket_id in (select ticket_id from duplicated_ticket_ids)
            qualify row_number() over (
                partition by ticket_id
                order by
                    coalesce(cast(account_id as varchar), '') || '|'
                    || coalesce(cast(submitted_at as varchar), '') || '|'
                    || coalesce(cast(closed_at as varchar), '') || '|'
                    || coalesce(cast(resolution_time_hours as varchar), '') || '|'
                    || coalesce(cast(priority as varchar), '') || '|'
                    || coalesce(cast(first_response_time_minutes as varchar), '') || '|'
                    || coalesce(cast(satisfaction_score as varchar), '') || '|'
                    || coalesce(cast(escalation_flag as varchar), '')
            ) = 1
        )
    )
    where
        account_id is not null
        and submitted_date is not null
        and (closed_at is null or closed_at >= cast(submitted_date as timestamp))
        and (resolution_time_hours is null or resolution_time_hours >= 0)
        and (first_response_minutes is null or first_response_minutes >= 0)
        and (csat_score is null or csat_score between $csat_min and $csat_max)
        and priority is not null
),

-- Current plan: the latest-started subscription still open on the date ------------------------

plans as (
    select
        reference_point,
        account_id,
        plan_tier,
        seats,
        mrr_amount,
        is_trial,
        is_auto_renew
    from subscriptions
    inner join (
        select 'as_of' as reference_point, date '$as_of_date' as reference_date
        union all
        select 'mrr_baseline', date '$as_of_date' - $mrr_change_window_days
    ) as reference_dates
        on
            subscriptions.start_date <= reference_dates.reference_date
            and (
                subscriptions.end_date is null
                or subscriptions.end_date > reference_dates.reference_date
            )
    qualify row_number() over (
        partition by account_id, reference_point
        order by start_date desc, subscription_id desc
    ) = 1
),

-- Scored population and segment ------------------------------------------------------------

active_accounts as (
    select
        accounts.account_id,
        date_diff('day', accounts.signup_date, date '$as_of_date') as tenure_days,
        plans.plan_tier,
        plans.seats,
        plans.mrr_amount,
        plans.is_trial,
        plans.is_auto_renew
    from accounts
    inner join plans
        on accounts.account_id = plans.account_id and plans.reference_point = 'as_of'
    where accounts.signup_date <= date '$as_of_date'
),

lifecycle_stages as (
    select * from read_csv('$seeds_dir/lifecycle_stages.csv', header = true,
        types = {'lifecycle_stage': 'VARCHAR', 'min_tenure_days': 'INTEGER',
                 'max_tenure_days': 'INTEGER'})
),

segment_rules as (
    select * from read_csv('$seeds_dir/segment_rules.csv', header = true,
        types = {'rule_priority': 'INTEGER', 'lifecycle_stage': 'VARCHAR',
                 'plan_tier': 'VARCHAR', 'segment': 'VARCHAR'})
),

staged_accounts as (
    select active_accounts.*, lifecycle_stages.lifecycle_stage
    from active_accounts
    left join lifecycle_stages
        on
            active_accounts.tenure_days >= lifecycle_stages.min_tenure_days
            and (
                lifecycle_stages.max_tenure_days is null
                or active_accounts.tenure_days < lifecycle_stages.max_tenure_days
            )
),

segmented_accounts as (
    select
        staged_accounts.account_id,
        segment_rules.segment
    from staged_accounts
    left join segment_rules
        on
            (
                staged_accounts.lifecycle_stage = segment_rules.lifecycle_stage
                or segment_rules.lifecycle_stage = '*'
            )
            and (
                staged_accounts.plan_tier = segment_rules.plan_tier
                or segment_rules.plan_tier = '*'
            )
    qualify row_number() over (
        partition by staged_accounts.account_id order by segment_rules.rule_priority
    ) = 1
),

-- Usage metrics ----------------------------------------------------------------------------

usage_aggregated as (
    select
        subscriptions.account_id,
        count(distinct case
            when date_diff('day', usage_rows.usage_date, date '$as_of_date') < $usage_window_days
                then usage_rows.usage_date
        end) as active_days,
        sum(case
            when date_diff('day', usage_rows.usage_date, date '$as_of_date') < $usage_window_days
                then usage_rows.usage_count
            else 0
        end) as usage_count_current,
        sum(case
            when
                date_diff('day', usage_rows.usage_date, date '$as_of_date')
                between $usage_window_days and 2 * $usage_window_days - 1
                then usage_rows.usage_count
            else 0
        end) as usage_count_previous,
        sum(case
            when date_diff('day', usage_rows.usage_date, date '$as_of_date') < $usage_window_days
                then usage_rows.error_count
            else 0
        end) as error_count_current,
        count(distinct case
            when
                date_diff('day', usage_rows.usage_date, date '$as_of_date')
                < $feature_breadth_window_days
                then usage_rows.feature_name
        end) as features_used
    from usage_rows
    inner join subscriptions on usage_rows.subscription_id = subscriptions.subscription_id
    where
        usage_rows.usage_date <= date '$as_of_date'
        and usage_rows.usage_date > date '$as_of_date'
        - greatest(2 * $usage_window_days, $feature_breadth_window_days)
    group by subscriptions.account_id
),

-- Support metrics --------------------------------------------------------------------------

tickets_aggregated as (
    select
        tickets.account_id,
        sum(case
            when date_diff('day', tickets.submitted_date, date '$as_of_date') < $support_window_days
                then 1
            else 0
        end) as tickets_submitted,
        sum(case
            when
                date_diff('day', tickets.submitted_date, date '$as_of_date') < $support_window_days
                and (tickets.priority in ($urgent_priorities) or tickets.is_escalated)
                then 1
            else 0
        end) as urgent_tickets,
        avg(case
            when
                date_diff('day', tickets.submitted_date, date '$as_of_date') < $support_window_days
                and cast(tickets.closed_at as date) <= date '$as_of_date'
                then tickets.first_response_minutes
        end) as avg_first_response_minutes,
        avg(case
            when
                date_diff('day', tickets.submitted_date, date '$as_of_date') < $support_window_days
                and cast(tickets.closed_at as date) <= date '$as_of_date'
                then tickets.resolution_time_hours
        end) as avg_resolution_hours,
        avg(case
            when
                date_diff('day', tickets.submitted_date, date '$as_of_date') < $csat_window_days
                and cast(tickets.closed_at as date) <= date '$as_of_date'
                then tickets.csat_score
        end) as avg_csat
    from tickets
    where
        tickets.submitted_date <= date '$as_of_date'
        and tickets.submitted_date > date '$as_of_date'
        - greatest($support_window_days, $csat_window_days)
    group by tickets.account_id
),

-- Billing metrics --------------------------------------------------------------------------

recent_downgrades as (
    select account_id, count(*) as downgrade_count
    from subscriptions
    where
        is_downgrade
        and start_date <= date '$as_of_date'
        and start_date > date '$as_of_date' - $downgrade_window_days
    group by account_id
),

-- All fifteen metrics, wide (same expressions and types as the dbt models) -------------------

metrics_wide as (
    select
        active_accounts.account_id,
        coalesce(usage_aggregated.active_days, 0) as active_days,
        100.0 * (usage_aggregated.usage_count_current - usage_aggregated.usage_count_previous)
        / nullif(usage_aggregated.usage_count_previous, 0) as usage_trend_pct,
        coalesce(usage_aggregated.features_used, 0) as feature_breadth,
        100.0 * usage_aggregated.error_count_current
        / nullif(usage_aggregated.usage_count_current, 0) as error_rate_pct,
        1.0 * coalesce(usage_aggregated.usage_count_current, 0)
        / nullif(active_accounts.seats, 0) as usage_per_seat,
        active_accounts.mrr_amount as current_mrr,
        100.0 * (active_accounts.mrr_amount - baseline_plans.mrr_amount)
        / nullif(baseline_plans.mrr_amount, 0) as mrr_change_pct,
        coalesce(recent_downgrades.downgrade_count, 0) as recent_downgrades,
        case when active_accounts.is_auto_renew then 0 else 1 end as auto_renew_off,
        case when active_accounts.is_trial then 1 else 0 end as on_trial,
        1.0 * coalesce(tickets_aggregated.tickets_submitted, 0)
        / nullif(active_accounts.seats, 0) as tickets_per_seat,
        coalesce(tickets_aggregated.urgent_tickets, 0) as urgent_tickets,
        tickets_aggregated.avg_first_response_minutes,
        tickets_aggregated.avg_resolution_hours,
        tickets_aggregated.avg_csat
    from active_accounts
    left join usage_aggregated on active_accounts.account_id = usage_aggregated.account_id
    left join plans as baseline_plans
        on
            active_accounts.account_id = baseline_plans.account_id
            and baseline_plans.reference_point = 'mrr_baseline'
    left join recent_downgrades on active_accounts.account_id = recent_downgrades.account_id
    left join tickets_aggregated on active_accounts.account_id = tickets_aggregated.account_id
),

metric_values as (
    select account_id, metric_name, metric_value
    from (
        select
            account_id,
            cast(active_days as double) as active_days,
            cast(usage_trend_pct as double) as usage_trend_pct,
            cast(feature_breadth as double) as feature_breadth,
            cast(error_rate_pct as double) as error_rate_pct,
            cast(usage_per_seat as double) as usage_per_seat,
            cast(current_mrr as double) as current_mrr,
            cast(mrr_change_pct as double) as mrr_change_pct,
            cast(recent_downgrades as double) as recent_downgrades,
            cast(auto_renew_off as double) as auto_renew_off,
            cast(on_trial as double) as on_trial,
            cast(tickets_per_seat as double) as tickets_per_seat,
            cast(urgent_tickets as double) as urgent_tickets,
            cast(avg_first_response_minutes as double) as avg_first_response_minutes,
            cast(avg_resolution_hours as double) as avg_resolution_hours,
            cast(avg_csat as double) as avg_csat
        from metrics_wide
    ) unpivot include nulls (metric_value for metric_name in (
        active_days, usage_trend_pct, feature_breadth, error_rate_pct, usage_per_seat,
        current_mrr, mrr_change_pct, recent_downgrades, auto_renew_off, on_trial,
        tickets_per_seat, urgent_tickets, avg_first_response_minutes, avg_resolution_hours,
        avg_csat
    ))
),

-- Points -----------------------------------------------------------------------------------

metric_definitions as (
    select * from read_csv('$seeds_dir/metric_definitions.csv', header = true,
        types = {'metric_name': 'VARCHAR', 'missing_points': 'DOUBLE'})
),

scoring_bands as (
    select
        metric_name,
        segment,
        lower_bound,
        upper_bound,
        {
            'lower_bound': lower_bound, 'upper_bound': upper_bound,
            'points_at_lower': points_at_lower, 'points_at_upper': points_at_upper
        } as band
    from read_csv('$seeds_dir/scoring_bands.csv', header = true,
        types = {'metric_name': 'VARCHAR', 'segment': 'VARCHAR', 'lower_bound': 'DOUBLE',
                 'upper_bound': 'DOUBLE', 'points_at_lower': 'DOUBLE',
                 'points_at_upper': 'DOUBLE'})
),

-- The band the value falls in: the segment's own band if one matches, else the '*' band.
banded_values as (
    select
        metric_values.account_id,
        metric_values.metric_name,
        metric_values.metric_value,
        metric_definitions.missing_points,
        coalesce(segment_bands.band, default_bands.band) as band
    from metric_values
    inner join segmented_accounts on metric_values.account_id = segmented_accounts.account_id
    left join metric_definitions on metric_values.metric_name = metric_definitions.metric_name
    left join scoring_bands as segment_bands
        on
            metric_values.metric_name = segment_bands.metric_name
            and segmented_accounts.segment = segment_bands.segment
            and (
                segment_bands.lower_bound is null
                or metric_values.metric_value >= segment_bands.lower_bound
            )
            and (
                segment_bands.upper_bound is null
                or metric_values.metric_value < segment_bands.upper_bound
            )
    left join scoring_bands as default_bands
        on
            metric_values.metric_name = default_bands.metric_name
            and default_bands.segment = '*'
            and (
                default_bands.lower_bound is null
                or metric_values.metric_value >= default_bands.lower_bound
            )
            and (
                default_bands.upper_bound is null
                or metric_values.metric_value < default_bands.upper_bound
            )
)

select
    account_id,
    metric_name,
    metric_value,
    cast(case
        when metric_value is null then missing_points
        when
            band.points_at_lower = band.points_at_upper
            or band.lower_bound is null
            or band.upper_bound is null
            then band.points_at_lower
        else
            band.points_at_lower
            + (metric_value - band.lower_bound) * (band.points_at_upper - band.points_at_lower)
            / (band.upper_bound - band.lower_bound)
    end as double) as points
from banded_values
