{#- Lifecycle stage (by tenure, from the lifecycle_stages seed) and scoring segment (first
    matching rule of the segment_rules seed, '*' matching anything) per account and as-of date.
    An account that no rule matches keeps a null segment, which fails the build's tests: there is
    no silent default segment. -#}

with

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

lifecycle_stages as (

    select * from {{ ref('lifecycle_stages') }}

),

segment_rules as (

    select * from {{ ref('segment_rules') }}

),

staged_accounts as (

    select
        active_accounts.*,
        lifecycle_stages.lifecycle_stage

    from active_accounts
    left join lifecycle_stages
        on
            active_accounts.tenure_days >= lifecycle_stages.min_tenure_days
            and (
                lifecycle_stages.max_tenure_days is null
                or active_accounts.tenure_days < lifecycle_stages.max_tenure_days
            )

),

matching_rules as (

    select
        staged_accounts.account_id,
        staged_accounts.as_of_date,
        segment_rules.segment,
        row_number() over (
            partition by staged_accounts.account_id, staged_accounts.as_of_date
            order by segment_rules.rule_priority
        ) as rule_rank

    from staged_accounts
    inner join segment_rules
        on
            (
                staged_accounts.lifecycle_stage = segment_rules.lifecycle_stage
                or segment_rules.lifecycle_stage = '*'
            )
            and (
                staged_accounts.plan_tier = segment_rules.plan_tier
                or segment_rules.plan_tier = '*'
            )

),

final as (

    select
        staged_accounts.account_id,
        staged_accounts.as_of_date,
        staged_accounts.account_name,
        staged_accounts.signup_date,
        staged_accounts.tenure_days,
        staged_accounts.lifecycle_stage,
        staged_accounts.plan_tier,
        staged_accounts.seats,
        staged_accounts.mrr_amount,
        matching_rules.segment

    from staged_accounts
    left join matching_rules
        on
            staged_accounts.account_id = matching_rules.account_id
            and staged_accounts.as_of_date = matching_rules.as_of_date
            and matching_rules.rule_rank = 1

)

select * from final
