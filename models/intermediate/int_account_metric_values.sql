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

    select * from usage_metrics
    union all
    select * from billing_metrics
    union all
    select * from support_metrics

)

select * from final
