{#- The NPS responses of each active account given in the NPS window (var nps_window_days)
    ending on the as-of date, newest first (`response_recency` 1 = the latest response). -#}
{{ config(enabled=raw_table_present('survey.nps_responses')) }}

with

responses as (

    select * from {{ ref('stg_survey__nps_responses') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

final as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        responses.response_id,
        responses.responded_at,
        responses.responded_date,
        responses.nps_score,
        responses.nps_category,
        responses.response_comment,
        -- bigint on every engine (Spark's row_number() is an int).
        cast(row_number() over (
            partition by active_accounts.account_id, active_accounts.as_of_date
            order by responses.responded_at desc, responses.response_id desc
        ) as bigint) as response_recency

    from active_accounts
    inner join responses
        on
            active_accounts.account_id = responses.account_id
            and active_accounts.as_of_date >= responses.responded_date
            and {{
                dbt.dateadd('day', -var('nps_window_days'), 'active_accounts.as_of_date')
            }} < responses.responded_date

)

select * from final
