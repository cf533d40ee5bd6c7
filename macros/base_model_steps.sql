{#- The steps every base model (models/staging/*/base/) shares around its own typing and its own
    quarantine reasons: rank the rows of a key, join the parent's quarantined keys, the key's
    reasons first in the `case`, and the detail of a reason. The usage base model, which is
    incremental and ranks only repeated ids, has steps of its own. -#}

{#- The rows of `relation` with key_occurrence (1 = the first row of its key) and the raw record
    of the key's row before (an identical one makes the row an exact duplicate). -#}
{% macro rows_ranked_by_key(relation, key_column) -%}
    select
        *,
        row_number() over key_window as key_occurrence,
        lag(raw_record) over key_window as previous_raw_record

    from {{ relation }}
    window key_window as (
        partition by {{ key_column }}
        -- lines with too many fields last: they never make a well-formed row a duplicate
        order by too_many_fields_detail is not null, raw_record
    )
{%- endmacro %}


{#- The rows of `relation` with the parent_quarantine_detail of their parent key, from
    `quarantined_keys` (a relation of macro quarantined_parents). -#}
{% macro rows_with_parent_quarantine(relation, quarantined_keys, parent_key) -%}
    select
        {{ relation }}.*,
        {{ quarantined_keys }}.parent_quarantine_detail

    from {{ relation }}
    left join {{ quarantined_keys }}
        on {{ relation }}.{{ parent_key }} = {{ quarantined_keys }}.{{ parent_key }}
{%- endmacro %}


{#- The first `when`s of a base model's quarantine_reason: a line with too many fields, a missing
    key, an exact duplicate row, a duplicate key. -#}
{% macro key_quarantine_reasons(key_column) -%}
    when too_many_fields_detail is not null then 'too_many_fields'
            when {{ key_column }} is null then 'missing_{{ key_column }}'
            when raw_record = previous_raw_record then 'exact_duplicate_row'
            when key_occurrence > 1 then 'duplicate_{{ key_column }}'
{%- endmacro %}


{#- quarantine_detail: the extra fields of a line with too many, or the parent's key and reason. -#}
{% macro quarantine_detail() -%}
    case
            when quarantine_reason = 'too_many_fields' then too_many_fields_detail
            when quarantine_reason = 'parent_quarantined' then parent_quarantine_detail
        end
{%- endmacro %}
