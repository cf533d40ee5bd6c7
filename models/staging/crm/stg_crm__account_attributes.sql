{#- The attributes a deployment keeps for accounts (var attribute_columns['crm.accounts']), one row
    per clean account and attribute; none for the bundled sample. -#}

with

base as (

    select * from {{ ref('base_crm__accounts') }}

),

final as (
    {{ attribute_rows('base', 'crm.accounts', 'account_id') }}
)

select * from final
