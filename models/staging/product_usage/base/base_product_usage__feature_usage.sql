{#- Every raw usage row, typed, with `quarantine_reason` set when the row cannot be used.
    The usage table is the large one (about 100 rows per account), so duplicates are found with
    a cheap count per usage_id and only the rows of repeated ids are ranked, and the raw text of
    a row is only assembled for quarantined rows.
    On append-only Parquet folders (HEALTH_RAW_DATA_FORMAT=parquet) the model is incremental: a
    run reads only the files it has not loaded yet, and re-ranks the loaded rows that share a
    usage_id with new rows, so it ends with the same table as a full refresh.
    Usage of a quarantined subscription is quarantined as parent_quarantined: rows are joined to
    the few subscription ids that have no clean row (quarantined_subscriptions), not to the
    subscriptions. An incremental run also re-reads the loaded rows whose subscription is
    quarantined now or that were quarantined as parent_quarantined (with every loaded row sharing
    their usage_id) and flags them again, so a subscription quarantined, or cleared, after its
    usage was loaded takes that usage into or out of quarantine as a full refresh would; finding
    them costs a scan of the loaded subscription_id and quarantine_reason columns. -#}
{{ config(
    enabled=raw_table_present('product_usage.feature_usage'),
    materialized=('incremental' if raw_files_are_append_only() else 'table'),
    incremental_strategy='delete+insert',
    unique_key='usage_id',
    on_schema_change='append_new_columns',
) }}

{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('product_usage', 'feature_usage') %}
{%- set content_columns = raw_columns | reject('equalto', 'usage_id') | list %}
{%- set raw_value_columns = [] %}
{%- for column in raw_columns %}{% do raw_value_columns.append('raw_' ~ column) %}{% endfor %}
{%- set raw_relation = '(' ~ raw_rows(source('product_usage', 'feature_usage')) ~ ') as raw_rows' %}
{%- set new_files_filter = not_yet_loaded_files(this) if is_incremental() else '' %}
{%- set parent_recheck = "quarantine_reason = 'parent_quarantined' or subscription_id in "
    ~ "(select quarantined_subscriptions.subscription_id from quarantined_subscriptions)" %}
{%- set rows_to_load = feature_usage_rows_to_load(
    raw_relation, raw_columns, new_files_filter, parent_recheck) %}
{#- An incremental run's few rows to load are computed once (a materialised CTE: reading the loaded
    table once instead of three times); a full refresh streams the raw files three times rather
    than materialising every row. -#}
{%- set candidates = 'incremental_rows' if is_incremental() else '(' ~ rows_to_load ~ ')' %}

with

quarantined_subscriptions as (

    {{ quarantined_parents(ref('base_billing__subscriptions'), 'subscription_id') }}

),
{%- if is_incremental() %}

incremental_rows as {{ materialized_cte() }} (

    {{ rows_to_load }}

),
{%- endif %}

repeated_keys as (

    select usage_id
    from {{ candidates }} as candidates
    where usage_id is not null
    group by usage_id
    having count(*) > 1

),

single_rows as (

    select
        candidates.*,
        cast(null as {{ dbt.type_string() }}) as content_key,
        1 as key_occurrence,
        false as is_exact_duplicate

    from {{ candidates }} as candidates
    left join repeated_keys
        on candidates.usage_id = repeated_keys.usage_id
    where repeated_keys.usage_id is null

),

repeated_rows as (

    select
        candidates.*,
        {{ raw_record(content_columns) }} as content_key

    from {{ candidates }} as candidates
    where candidates.usage_id in (select repeated_keys.usage_id from repeated_keys)

),

ranked_repeated_rows as (

    select
        *,
        row_number() over key_window as key_occurrence,
        coalesce(content_key = lag(content_key) over key_window, false) as is_exact_duplicate

    from repeated_rows
    window key_window as (
        partition by usage_id
        -- lines with too many fields last: they never make a well-formed row a duplicate
        order by
            too_many_fields_detail is not null,
            {{ (content_columns + raw_value_columns + ['source_file']) | join(', ') }}
    )

),

with_parents as (

    select
        ranked_rows.*,
        quarantined_subscriptions.parent_quarantine_detail

    from (
        select * from single_rows
        union all
        select * from ranked_repeated_rows
    ) as ranked_rows
    left join quarantined_subscriptions
        on ranked_rows.subscription_id = quarantined_subscriptions.subscription_id

),

flagged as (

    select
        *,
        case
            when too_many_fields_detail is not null then 'too_many_fields'
            when usage_id is null then 'missing_usage_id'
            when key_occurrence > 1 and is_exact_duplicate then 'exact_duplicate_row'
            when key_occurrence > 1 then 'duplicate_usage_id'
            when subscription_id is null then 'missing_subscription_id'
            when usage_date is null then 'invalid_usage_date'
            when {{ is_implausible_date('usage_date') }} then 'implausible_usage_date'
            when feature_name is null then 'missing_feature_name'
            when usage_count is null then 'invalid_usage_count'
            when error_count is null then 'invalid_error_count'
            when usage_duration_secs is null then 'invalid_usage_duration'
            when usage_count < 0 or error_count < 0 or usage_duration_secs < 0
                then 'negative_usage_measure'
            when {{ is_implausible_number('usage_count') }} then 'implausible_usage_count'
            when {{ is_implausible_number('error_count') }} then 'implausible_error_count'
            when {{ is_implausible_number('usage_duration_secs') }}
                then 'implausible_usage_duration'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

),

final as (

    select
        {{ raw_columns | join(', ') }},
        source_file,
        {{ run_started_timestamp() }} as loaded_at,
        case
            when quarantine_reason is not null
                then coalesce(stored_raw_record, {{ raw_record(raw_value_columns) }})
        end as raw_record,
        quarantine_reason,
        case
            when quarantine_reason = 'too_many_fields' then too_many_fields_detail
            when quarantine_reason = 'parent_quarantined' then parent_quarantine_detail
        end as quarantine_detail

    from flagged

)

select * from final
