{{ config(enabled=raw_table_present('crm.churn_events')) }}

with

base as (

    select * from {{ ref('base_crm__churn_events') }}

),

final as (

    select
        churn_event_id,
        account_id,
        churn_date,
        reason_code,
        refund_amount_usd,
        had_preceding_upgrade,
        had_preceding_downgrade,
        is_reactivation,
        feedback_text

    from base
    where quarantine_reason is null

)

select * from final
