{#- The accounts on a cycle of parents of at most `max_length` accounts (A -> B -> A, ...): one row
    per such account_id. links: a relation of (account_id, parent_account_id), one row per
    account, self-parents included (a cycle of one). An account is on a cycle when walking up its
    parents comes back to it; the walk is `max_length` - 1 self-joins on the account id, the same
    SQL on DuckDB, PostgreSQL and Spark (no recursion). A longer cycle is not found: its accounts
    keep their parents, and the rollup, which goes up one level only, still ends. -#}
{% macro accounts_on_parent_cycles(links, max_length=4) -%}
    select distinct level_1.account_id

    from {{ links }} as level_1
    {%- for level in range(2, max_length + 1) %}
    left join {{ links }} as level_{{ level }}
        on level_{{ level - 1 }}.parent_account_id = level_{{ level }}.account_id
    {%- endfor %}
    where
        {%- for level in range(1, max_length + 1) %}
        {% if not loop.first %}or {% endif %}level_{{ level }}.parent_account_id = level_1.account_id
        {%- endfor %}
{%- endmacro %}
