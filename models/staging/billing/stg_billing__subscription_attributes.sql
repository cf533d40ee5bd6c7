{#- The attributes a deployment keeps for subscriptions (var
    attribute_columns['billing.subscriptions']), one row per clean subscription and attribute;
    none for the bundled sample. -#}

with

base as (

    select * from {{ ref('base_billing__subscriptions') }}

),

final as (
    {{ attribute_rows('base', 'billing.subscriptions', 'subscription_id') }}
)

select * from final
