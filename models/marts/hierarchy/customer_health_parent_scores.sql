{#- Parent accounts' health: one row per parent account per as-of date on which at least one
    member of its family (int_account_parents: its children, and itself when it is an account)
    has a score. The parent's score is the members' scores weighted by their MRR, or equally
    weighted when the scored members' MRR sums to 0; members without a score on the date (not
    active) are left out of it and counted. Graded with the accounts' grading (macro
    graded_scores); there is no coverage figure here, so the status is the grade's. -#}

with

family_members as (

    select * from {{ ref('int_account_parents') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates') }}

),

scores as (

    select * from {{ ref('customer_health_scores') }}

),

grading_scheme as (

    select * from {{ ref('grading_scheme') }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

),

member_scores as (

    select
        family_members.parent_account_id,
        family_members.parent_account_name,
        family_members.account_id,
        family_members.account_name,
        family_members.is_parent_account,
        as_of_dates.as_of_date,
        scores.health_score,
        case when scores.health_score is not null then coalesce(scores.mrr_amount, 0) end
            as mrr_amount

    from family_members
    cross join as_of_dates
    left join scores
        on
            family_members.account_id = scores.account_id
            and as_of_dates.as_of_date = scores.as_of_date

),

family_totals as (

    select
        parent_account_id,
        as_of_date,
        max(parent_account_name) as parent_account_name,
        count(health_score) as scored_members,
        sum(mrr_amount) as total_mrr_amount,
        sum(mrr_amount * health_score) as mrr_weighted_score_sum,
        avg(health_score) as mean_score,
        max(case when is_parent_account and health_score is not null then 1 else 0 end) = 1
            as is_parent_scored,
        count(case when not is_parent_account then 1 end) as child_accounts,
        count(case when not is_parent_account and health_score is not null then 1 end)
            as scored_child_accounts

    from member_scores
    group by parent_account_id, as_of_date

),

weighted_scores as (

    select
        parent_account_id,
        as_of_date,
        parent_account_name,
        is_parent_scored,
        child_accounts,
        scored_child_accounts,
        total_mrr_amount,
        total_mrr_amount = 0 as is_equal_weighted,
        {{ round_number(
            'case when total_mrr_amount > 0 then mrr_weighted_score_sum / total_mrr_amount'
            ~ ' else mean_score end', 1
        ) }} as health_score

    from family_totals
    where scored_members > 0

),

graded_scores as (

    {{ graded_scores('weighted_scores', 'health_score', ['parent_account_id', 'as_of_date']) }}

),

weakest_children as (

    select
        parent_account_id,
        as_of_date,
        account_id,
        account_name,
        health_score,
        row_number() over (
            partition by parent_account_id, as_of_date
            order by health_score, account_id
        ) as weakness_rank

    from member_scores
    where not is_parent_account and health_score is not null

),

child_lists as (

    select
        parent_account_id,
        as_of_date,
        {{ ordered_text_list('account_id', "', '", 'account_id') }} as child_account_ids

    from member_scores
    where not is_parent_account
    group by parent_account_id, as_of_date

),

final as (

    select
        graded_scores.parent_account_id,
        graded_scores.as_of_date,
        graded_scores.parent_account_name,
        graded_scores.is_parent_scored,
        graded_scores.health_score,
        graded_scores.grade,
        graded_scores.score_status as status,
        health_statuses.colour as status_colour,
        graded_scores.child_accounts,
        graded_scores.scored_child_accounts,
        {{ round_number('graded_scores.total_mrr_amount', 2) }} as total_mrr_amount,
        graded_scores.is_equal_weighted,
        weakest_children.account_id as weakest_child_account_id,
        weakest_children.account_name as weakest_child_account_name,
        weakest_children.health_score as weakest_child_health_score,
        child_lists.child_account_ids,
        '{{ var("scoring_config_version") }}' as scoring_config_version

    from graded_scores
    inner join health_statuses
        on graded_scores.score_status = health_statuses.status
    inner join child_lists
        on
            graded_scores.parent_account_id = child_lists.parent_account_id
            and graded_scores.as_of_date = child_lists.as_of_date
    left join weakest_children
        on
            graded_scores.parent_account_id = weakest_children.parent_account_id
            and graded_scores.as_of_date = weakest_children.as_of_date
            and weakest_children.weakness_rank = 1

)

select * from final
