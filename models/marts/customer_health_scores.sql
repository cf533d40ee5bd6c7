{#- The published health score: one row per active account per as-of date. -#}

with

account_scores as (

    select * from {{ ref('int_account_scores') }}

),

segmented_accounts as (

    select * from {{ ref('int_account_segments') }}

),

contributions as (

    select * from {{ ref('int_account_metric_contributions') }}

),

grading_scheme as (

    select * from {{ ref('grading_scheme') }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

),

rounded_scores as (

    select
        *,
        {{ round_number('raw_score', 1) }} as health_score,
        weight_coverage < {{ var('min_weight_coverage') }} as is_low_coverage

    from account_scores

),

graded_scores as (

    {{ graded_scores('rounded_scores', 'health_score', ['account_id', 'as_of_date']) }}

),

statused_scores as (
    -- A low-coverage score never shows better than var('low_coverage_status').

    select
        graded_scores.*,
        case
            when
                graded_scores.is_low_coverage
                and score_statuses.status_rank < coverage_cap.status_rank
                then coverage_cap.status
            else graded_scores.score_status
        end as status

    from graded_scores
    inner join health_statuses as score_statuses
        on graded_scores.score_status = score_statuses.status
    cross join health_statuses as coverage_cap
    where coverage_cap.status = '{{ var("low_coverage_status") }}'

),

drivers as (

    select
        account_id,
        as_of_date,
        {%- for rank in range(1, var('driver_count') + 1) %}
        max(case when driver_rank = {{ rank }} then driver_text end) as driver_{{ rank }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}

    from contributions
    where driver_rank <= {{ var('driver_count') }}
    group by account_id, as_of_date

),

final as (

    select
        segmented_accounts.account_id,
        segmented_accounts.as_of_date,
        segmented_accounts.account_name,
        segmented_accounts.segment,
        segmented_accounts.lifecycle_stage,
        segmented_accounts.plan_tier,
        segmented_accounts.tenure_days,
        segmented_accounts.mrr_amount,
        statused_scores.health_score,
        statused_scores.grade,
        statused_scores.status,
        health_statuses.colour as status_colour,
        statused_scores.score_status,
        statused_scores.is_low_coverage,
        {%- for category in var('score_categories') %}
        {{ round_number('statused_scores.' ~ category ~ '_score', 1) }} as {{ category }}_score,
        {%- endfor %}
        statused_scores.metrics_with_data,
        statused_scores.metrics_expected,
        {{ round_number('statused_scores.weight_coverage', 3) }} as weight_coverage,
        {%- for rank in range(1, var('driver_count') + 1) %}
        drivers.driver_{{ rank }},
        {%- endfor %}
        '{{ var("scoring_config_version") }}' as scoring_config_version,
        '{{ invocation_id }}' as dbt_invocation_id

    from segmented_accounts
    inner join statused_scores
        on
            segmented_accounts.account_id = statused_scores.account_id
            and segmented_accounts.as_of_date = statused_scores.as_of_date
    inner join health_statuses
        on statused_scores.status = health_statuses.status
    left join drivers
        on
            segmented_accounts.account_id = drivers.account_id
            and segmented_accounts.as_of_date = drivers.as_of_date

)

select * from final
