{#- Outreach list: likely promoters (references, case studies, reviews): a high score and high
    CSAT (metric var promoter_csat_metric, at least var promoter_min_csat; score at least var
    promoter_min_score). -#}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

components as (

    select * from {{ ref('customer_health_score_components') }}
    {#- null: the deployment has no such metric, and no such list (it stays empty) #}
    where metric_name = {{ sql_literal(var('promoter_csat_metric')) }}

),

final as (

    select
        scores.account_id,
        scores.as_of_date,
        scores.account_name,
        scores.segment,
        scores.health_score,
        scores.grade,
        components.metric_value as avg_csat,
        {{ dbt.concat([
            "'Score '", number_text("scores.health_score"), "' ('", 'scores.grade', "'); '",
            'components.display_name', "': '",
            format_metric_value('components.metric_value', 'components.unit'),
            "' ('", 'components.band_label', "')'",
        ]) }} as reason

    from scores
    inner join components
        on
            scores.account_id = components.account_id
            and scores.as_of_date = components.as_of_date
    where
        scores.health_score >= {{ var('promoter_min_score') }}
        and components.metric_value >= {{ var('promoter_min_csat') }}
        and not scores.is_low_coverage

)

select * from final
