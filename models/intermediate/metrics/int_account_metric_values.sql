{#- Every metric value per account and as-of date (null = no data, N/A). -#}

with

usage_metrics as (

    select * from {{ ref('int_account_usage_metrics') }}

),

billing_metrics as (

    select * from {{ ref('int_account_billing_metrics') }}

),

support_metrics as (

    select * from {{ ref('int_account_support_metrics') }}

),

final as (

    select
        account_id,
        as_of_date,
        metric_name,
        metric_value
    from usage_metrics
    union all
    select
        account_id,
        as_of_date,
        metric_name,
        metric_value
    from billing_metrics
    union all
    select
        account_id,
        as_of_date,
        metric_name,
        metric_value
    from support_metrics

)

select * from final
