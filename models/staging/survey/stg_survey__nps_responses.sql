{{ config(enabled=raw_table_present('survey.nps_responses')) }}

with

base as (

    select * from {{ ref('base_survey__nps_responses') }}

),

final as (

    select
        response_id,
        account_id,
        responded_at,
        responded_date,
        nps_score,
        case
            when nps_score >= {{ var('nps_promoter_min') }} then 'promoter'
            when nps_score <= {{ var('nps_detractor_max') }} then 'detractor'
            else 'passive'
        end as nps_category,
        contact_id,
        response_comment

    from base
    where quarantine_reason is null

)

select * from final
