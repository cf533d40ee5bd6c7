{#- NPS metrics per account and as-of date, long format, from the responses in the NPS window
    (int_account_nps_responses_in_window). Without responses the scores are N/A, and there are
    0 detractor responses (a fact). -#}
{{ config(enabled=raw_table_present('survey.nps_responses')) }}

with

responses as (

    select * from {{ ref('int_account_nps_responses_in_window') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

responses_aggregated as (

    select
        account_id,
        as_of_date,
        max(case when response_recency = 1 then nps_score end) as nps_latest,
        avg(1.0 * nps_score) as nps_average,
        100.0 * (
            sum(case when nps_category = 'promoter' then 1 else 0 end)
            - sum(case when nps_category = 'detractor' then 1 else 0 end)
        ) / count(*) as nps_net,
        sum(case when nps_category = 'detractor' then 1 else 0 end) as detractor_responses

    from responses
    group by account_id, as_of_date

),

nps_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        responses_aggregated.nps_latest,
        responses_aggregated.nps_average,
        responses_aggregated.nps_net,
        coalesce(responses_aggregated.detractor_responses, 0) as detractor_responses

    from active_accounts
    left join responses_aggregated
        on
            active_accounts.account_id = responses_aggregated.account_id
            and active_accounts.as_of_date = responses_aggregated.as_of_date

),

final as (
    {{ unpivot_metrics('nps_metrics', [
        'nps_latest', 'nps_average', 'nps_net', 'detractor_responses',
    ]) }}
)

select * from final
