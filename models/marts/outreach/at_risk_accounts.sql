{#- Outreach list: accounts in any status but the best one of the health_statuses seed (at risk,
    unhealthy), and, where the deployment has an NPS survey, detractors whose usage is falling
    (latest response in the NPS window a detractor's, and the metric var detractor_usage_metric
    at most var detractor_max_usage_change) whatever their status. Largest annual revenue at
    risk (MRR x var arr_months) first, then the lowest score, with the reasons in words and what
    changed since the previous scored date (customer_health_score_changes); capped to
    var outreach_capacity's at_risk_accounts entry (macro capped_worklist). -#}
{%- set has_nps = raw_table_present('survey.nps_responses') %}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

changes as (

    select * from {{ ref('customer_health_score_changes') }}

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

{% if has_nps -%}
falling_usage as (

    select * from {{ ref('customer_health_score_components') }}
    {#- null: the deployment has no such metric, and no detractors join the list #}
    where
        metric_name = {{ sql_literal(var('detractor_usage_metric')) }}
        and metric_value <= {{ var('detractor_max_usage_change') }}

),

detractors as (

    select
        responses.account_id,
        responses.as_of_date,
        responses.nps_score,
        {{ dbt.concat([
            "'NPS detractor: '", number_text('responses.nps_score'), "' of 10 on '",
            'cast(responses.responded_date as ' ~ dbt.type_string() ~ ')', "', and '",
            'falling_usage.display_name', "' '", 'falling_usage.value_text',
        ]) }} as detractor_reason

    from {{ ref('int_account_nps_responses_in_window') }} as responses
    inner join falling_usage
        on
            responses.account_id = falling_usage.account_id
            and responses.as_of_date = falling_usage.as_of_date
    where responses.response_recency = 1 and responses.nps_category = 'detractor'

),

{% endif -%}

listed as (

    select
        scores.*,
        ranked_statuses.is_best_status,
        changes.previous_as_of_date,
        changes.previous_health_score,
        changes.score_change,
        changes.previous_grade,
        changes.previous_status,
        previous_statuses.is_best_status as was_best_status,
        {%- if has_nps %}
        detractors.nps_score as latest_nps_score,
        detractors.detractor_reason
        {%- else %}
        cast(null as {{ dbt.type_bigint() }}) as latest_nps_score,
        cast(null as {{ dbt.type_string() }}) as detractor_reason
        {%- endif %}

    from scores
    inner join ranked_statuses
        on scores.status = ranked_statuses.status
    left join changes
        on
            scores.account_id = changes.account_id
            and scores.as_of_date = changes.as_of_date
    left join ranked_statuses as previous_statuses
        on changes.previous_status = previous_statuses.status
    {%- if has_nps %}
    left join detractors
        on
            scores.account_id = detractors.account_id
            and scores.as_of_date = detractors.as_of_date
    {%- endif %}

),

matches as (

    select
        account_id,
        as_of_date,
        account_name,
        segment,
        health_score,
        grade,
        status,
        mrr_amount * {{ var('arr_months') }} as arr_at_risk,
        {{ dbt.concat([
            "'Score '", number_text("health_score"),
            "' ('", 'grade', "'): '",
            "coalesce(driver_1, 'no single metric stands out')",
            "coalesce(" ~ dbt.concat(["'; '", 'driver_2']) ~ ", '')",
            "coalesce(" ~ dbt.concat(["'; '", 'driver_3']) ~ ", '')",
            "coalesce(" ~ dbt.concat(["'; '", 'detractor_reason']) ~ ", '')",
        ]) }} as reason,
        latest_nps_score,
        previous_as_of_date,
        previous_health_score,
        score_change,
        previous_grade,
        previous_status,
        -- null without a previous scored date
        was_best_status as is_newly_listed

    from listed
    where not is_best_status or detractor_reason is not null

),

final as (

    {{ capped_worklist(
        'matches',
        'arr_at_risk desc, health_score asc',
        var('outreach_capacity').get('at_risk_accounts'),
    ) }}

)

select * from final
