{#- The quarantined keys of a parent base model, for a child base model to quarantine the rows
    that reference them as parent_quarantined (each child declares each of its parents once, with
    one call). A key is quarantined when it has no clean row: a key repeated on several rows keeps
    its clean one, and its children stay. One row per quarantined key: the key (as key_column)
    and parent_quarantine_detail, `<key_column> <key>: <the parent's reason>`, followed by the
    parent's own detail in parentheses when it has one (it was itself quarantined for its parent,
    or as too_many_fields). The reason
    is that of the key's first row (its other rows are duplicates of it, quarantined as such).
    Keys that do not occur at all (orphans) are not here: relationships tests catch them.
    parent_model: a base model (with quarantine_reason and quarantine_detail); key_column: its
    key, named the same in the child.
    Plain grouping and a join on one key: the same SQL on DuckDB, PostgreSQL and Spark, and a
    small result (quarantined keys only) for a large child to join. -#}
{% macro quarantined_parents(parent_model, key_column) -%}
    {#- The reasons of a key's rows after its first (base models rank the rows of a key). -#}
    {%- set duplicate_reasons = ['exact_duplicate_row', 'duplicate_' ~ key_column] -%}
    {%- set first_row = "quarantine_reason not in ('" ~ duplicate_reasons | join("', '") ~ "')" -%}
    select
        {{ key_column }},
        case
            when parent_detail is null
                then {{ dbt.concat(["'" ~ key_column ~ " '", key_column, "': '", 'parent_reason']) }}
            else {{ dbt.concat([
                "'" ~ key_column ~ " '", key_column, "': '", 'parent_reason',
                "' ('", 'parent_detail', "')'",
            ]) }}
        end as parent_quarantine_detail

    from (
        select
            {{ key_column }},
            coalesce(
                min(case when {{ first_row }} then quarantine_reason end),
                min(quarantine_reason)
            ) as parent_reason,
            min(case when {{ first_row }} then quarantine_detail end)
                as parent_detail

        from {{ parent_model }}
        where {{ key_column }} is not null
        group by {{ key_column }}
        having count(quarantine_reason) = count(*)
    ) as quarantined_keys
{%- endmacro %}
