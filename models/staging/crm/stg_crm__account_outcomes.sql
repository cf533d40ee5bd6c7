{#- Snapshot outcome: whether each clean account churned after the snapshot, from the account
    attribute named by var snapshot_outcome_column (observed later, never a score input). Built
    only when that var is set; backtest and calibration then label the snapshot's scores with
    it. yes / true / 1 = churned, no / false / 0 = stayed, anything else = unknown (null, left
    out of the evaluation and counted). -#}
{{ config(enabled=var('snapshot_outcome_column') is not none) }}

with

account_attributes as (

    select * from {{ ref('stg_crm__account_attributes') }}
    where attribute_name = '{{ var("snapshot_outcome_column") | trim | lower }}'

),

final as (

    select
        account_id,
        attribute_value as outcome_value,
        case
            when lower(attribute_value) in ('yes', 'true', '1') then true
            when lower(attribute_value) in ('no', 'false', '0') then false
        end as has_churned

    from account_attributes

)

select * from final
