{#- Outreach list: likely promoters (references, case studies, reviews): a high score and high
    CSAT (metric var promoter_csat_metric, at least var promoter_min_csat; score at least var
    promoter_min_score; not low-coverage), and, where the deployment has an NPS survey, every
    account whose latest response in the NPS window is a promoter's, with their comment as the
    reason. -#}
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
        components.unit as csat_unit,
        components.band_label as csat_band_label,
        components.metric_value as avg_csat,
        coalesce(
            scores.health_score >= {{ var('promoter_min_score') }}
            and components.metric_value >= {{ var('promoter_min_csat') }}
            and not scores.is_low_coverage,
            false
        ) as is_csat_promoter,
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
    {%- if has_nps %}
    left join nps_promoters
        on
            scores.account_id = nps_promoters.account_id
            and scores.as_of_date = nps_promoters.as_of_date
    {%- endif %}

),

final as (

    select
        account_id,
        as_of_date,
        account_name,
        segment,
        health_score,
        grade,
        avg_csat,
        case
            when is_csat_promoter then {{ dbt.concat([
                "'Score '", number_text("health_score"), "' ('", 'grade', "'); '",
                'csat_display_name', "': '", format_metric_value('avg_csat', 'csat_unit'),
                "' ('", 'csat_band_label', "')'",
                "coalesce(" ~ dbt.concat(["'; '", 'nps_reason']) ~ ", '')",
            ]) }}
            else {{ dbt.concat([
                "'Score '", number_text("health_score"), "' ('", 'grade', "'); '", 'nps_reason',
            ]) }}
        end as reason,
        latest_nps_score

    from listed
    where is_csat_promoter or nps_reason is not null

)

select * from final
