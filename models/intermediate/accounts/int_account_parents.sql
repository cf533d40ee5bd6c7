{#- The members of each parent account's family, whose scores roll up to it: its children (every
    clean account whose parent_account_id names it) and the parent itself when it is a clean
    account. A parent that is not an account (or is quarantined) is kept: its children still roll
    up to it. One level: a child that is itself a parent joins its own parent's family as an
    account, with its own score. -#}

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

children as (

    select
        parent_account_id,
        account_id,
        false as is_parent_account

    from accounts
    where parent_account_id is not null

),

parents as (

    select distinct parent_account_id

    from children

),

parents_as_members as (

    select
        parents.parent_account_id,
        accounts.account_id,
        true as is_parent_account

    from parents
    inner join accounts
        on parents.parent_account_id = accounts.account_id

),

members as (

    select * from children
    union all
    select * from parents_as_members

),

final as (

    select
        members.parent_account_id,
        parent_accounts.account_name as parent_account_name,
        members.account_id,
        member_accounts.account_name,
        members.is_parent_account

    from members
    inner join accounts as member_accounts
        on members.account_id = member_accounts.account_id
    left join accounts as parent_accounts
        on members.parent_account_id = parent_accounts.account_id

)

select * from final
