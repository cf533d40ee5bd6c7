{#- Outreach list: likely promoters (references, case studies, reviews): a high score and high
    CSAT (metric var promoter_csat_metric, at least var promoter_min_csat; score at least var
    promoter_min_score; not low-coverage), and, where the deployment has an NPS survey, every
    account whose latest response in the NPS window is a promoter's, with their comment as the
    reason. Largest annual revenue first (a larger customer makes a weightier reference), then the
    highest score, with what changed since the previous scored date
    (customer_health_score_changes, and the CSAT metric's previous value from
    customer_health_score_change_attribution); capped to var outreach_capacity's
    promoter_accounts entry (macro capped_worklist). -#}
{%- set has_nps = raw_table_present('survey.nps_responses') %}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

components as (

    select * from {{ ref('customer_health_score_components') }}
    {#- null: the deployment has no such metric, and no CSAT promoters #}
    where metric_name = {{ sql_literal(var('promoter_csat_metric')) }}

),

changes as (

    select * from {{ ref('customer_health_score_changes') }}

),

previous_csat as (

    select * from {{ ref('customer_health_score_change_attribution') }}
    where metric_name = {{ sql_literal(var('promoter_csat_metric')) }}

),

{% if has_nps -%}
nps_promoters as (

    select * from {{ ref('int_account_nps_responses_in_window') }}
    where response_recency = 1 and nps_category = 'promoter'

),

{% endif -%}

listed as (

    select
        scores.*,
        components.display_name as csat_display_name,
        components.value_text as csat_value_text,
        components.band_label as csat_band_label,
        components.metric_value as avg_csat,
        coalesce(
            scores.health_score >= {{ var('promoter_min_score') }}
            and components.metric_value >= {{ var('promoter_min_csat') }}
            and not scores.is_low_coverage,
            false
        ) as is_csat_promoter,
        changes.previous_as_of_date,
        changes.previous_health_score,
        changes.score_change,
        changes.previous_grade,
        case
            when changes.previous_as_of_date is not null
                then not coalesce(
                    changes.previous_health_score >= {{ var('promoter_min_score') }}
                    and previous_csat.previous_metric_value >= {{ var('promoter_min_csat') }},
                    false
                )
        end as is_newly_listed,
        {%- if has_nps %}
        nps_promoters.nps_score as latest_nps_score,
        {{ dbt.concat([
            "'NPS '", number_text('nps_promoters.nps_score'), "' on '",
            'cast(nps_promoters.responded_date as ' ~ dbt.type_string() ~ ')',
            "coalesce(" ~ dbt.concat(["': \"'", 'nps_promoters.response_comment', "'\"'"]) ~ ", '')",
        ]) }} as nps_reason
        {%- else %}
        cast(null as {{ dbt.type_bigint() }}) as latest_nps_score,
        cast(null as {{ dbt.type_string() }}) as nps_reason
        {%- endif %}

    from scores
    left join components
        on
            scores.account_id = components.account_id
            and scores.as_of_date = components.as_of_date
    left join changes
        on
            scores.account_id = changes.account_id
            and scores.as_of_date = changes.as_of_date
    left join previous_csat
        on
            scores.account_id = previous_csat.account_id
            and scores.as_of_date = previous_csat.as_of_date
    {%- if has_nps %}
    left join nps_promoters
        on
            scores.account_id = nps_promoters.account_id
            and scores.as_of_date = nps_promoters.as_of_date
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
        mrr_amount * {{ var('arr_months') }} as annual_revenue,
        avg_csat,
        case
            when is_csat_promoter then {{ dbt.concat([
                "'Score '", number_text("health_score"), "' ('", 'grade', "'); '",
                'csat_display_name', "': '", 'csat_value_text',
                "' ('", 'csat_band_label', "')'",
                "coalesce(" ~ dbt.concat(["'; '", 'nps_reason']) ~ ", '')",
            ]) }}
            else {{ dbt.concat([
                "'Score '", number_text("health_score"), "' ('", 'grade', "'); '", 'nps_reason',
            ]) }}
        end as reason,
        latest_nps_score,
        previous_as_of_date,
        previous_health_score,
        score_change,
        previous_grade,
        is_newly_listed

    from listed
    where is_csat_promoter or nps_reason is not null

),

final as (

    {{ capped_worklist(
        'matches',
        'annual_revenue desc, health_score desc',
        var('outreach_capacity').get('promoter_accounts'),
    ) }}

)

select * from final
