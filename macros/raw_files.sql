{#- Whether raw tables are append-only folders of files (HEALTH_RAW_DATA_FORMAT=parquet), so that
    large raw tables can be loaded incrementally, file by file. CSV raw files are snapshots that
    may be rewritten in place, so they are always read in full. -#}
{% macro raw_files_are_append_only() -%}
    {{ return(env_var('HEALTH_RAW_DATA_FORMAT', 'csv') == 'parquet') }}
{%- endmacro %}


{#- Filter on a raw source's `filename` column that keeps only files not yet loaded into
    `relation` (whose `source_file` column records where each row came from). The file names are
    listed as literals, so DuckDB skips the loaded files without opening them. -#}
{% macro not_yet_loaded_files(relation) -%}
    {%- set loaded_files = [] -%}
    {%- if execute -%}
        {%- set result = run_query('select distinct source_file from ' ~ relation
            ~ ' where source_file is not null') -%}
        {%- set loaded_files = result.columns[0].values() | list -%}
    {%- endif -%}
    {%- if loaded_files -%}
        filename not in (
            {%- for file in loaded_files %}'{{ file | replace("'", "''") }}'
            {%- if not loop.last %}, {% endif %}{% endfor -%}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
