{#- The rows of a raw table, as a base model reads them: its declared columns (by name), its
    attribute columns (var attribute_columns) and too_many_fields_detail. relation: the base
    model's source() (base models stay the only place that names sources).

    The input contract is the same on every engine and format (raw_contract_columns): the table's
    columns are found by name (trimmed, case-insensitive); a declared column it lacks is null,
    unless the source marks it `required`, which fails the compilation, naming the table, what
    was read and the column; a column neither declared nor listed in attribute_columns is
    reported in a warning (the build goes on without it).

    How the columns are found depends on what is read:
    - DuckDB with CSV files (the default): the source reads each line positionally, as fields
      field_1 ... field_N (dbt_project.yml, `sources:`), so that a line with more fields than the
      header keeps them instead of losing them silently. The header line (the file's first
      record) is read when the model compiles and names the fields (positional_csv_rows).
    - Elsewhere (Parquet files, PostgreSQL and Spark tables): a query for no rows gives the
      columns' names (named_rows); too_many_fields_detail is null, as a typed column never holds
      more than one value. Columns keep their types (staging casts them to text).
    - Unit tests read a fixture instead of the source (the graph of a unit test has no sources):
      its columns as they are.
    Cost: one extra query (the header line, or no rows) per compilation. -#}
{% macro raw_rows(relation) -%}
    {%- set read = relation | string -%}
    {%- set source = raw_source_read_by(relation) if execute else none -%}
    {%- if source is none -%}
        select
            *,
            cast(null as {{ dbt.type_string() }}) as too_many_fields_detail
        from {{ relation }}
    {%- elif target.type == 'duckdb' and read.lstrip().startswith('read_csv(') -%}
        {{ return(positional_csv_rows(source, read)) }}
    {%- else -%}
        {{ return(named_rows(source, read)) }}
    {%- endif -%}
{%- endmacro %}


{#- Rows of a table (or Parquet folder) whose columns have names. read_parquet adds `filename`
    (where each row came from, which incremental loads need): it is passed through, not an
    undeclared column of the data. -#}
{% macro named_rows(source, read) -%}
    {%- set reader_columns = ['filename'] if read.lstrip().startswith('read_parquet(') else [] -%}
    {%- set available = {} -%}
    {%- for name in run_query('select * from ' ~ read ~ ' where 1 = 0').column_names -%}
        {%- if name not in reader_columns -%}
            {%- do available.update({name | trim | lower: adapter.quote(name)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set selected = raw_contract_columns(source, available, raw_read_label(source, read))
        + reader_columns -%}
    select
        {%- for expression in selected %}
        {{ expression }},
        {%- endfor %}
        cast(null as {{ dbt.type_string() }}) as too_many_fields_detail
    from {{ read }}
{%- endmacro %}


{#- Rows of a CSV file read positionally (see raw_rows).
    - too_many_fields_detail: for a record with non-empty fields beyond the header's count,
      `record <n>: fields beyond the header's <count> columns: <the extra fields, '|'-separated>`
      (null otherwise); base models quarantine such a row as too_many_fields. <n> is the record's
      number in the file, the header being record 1: the scan is single-threaded
      (parallel = false), so it keeps the file's order and row_number() numbers the records in
      it. A record whose quoted fields hold line breaks counts as one, so after such a record <n>
      is smaller than the line's number in a text editor. Extra fields that are all empty lose
      nothing and are not flagged; fields past field_N are not read (the record is flagged all
      the same, as field_N is then beyond the header).
    Cost: a window over the file's rows (row_number), which the single-threaded CSV scan already
    orders. -#}
{% macro positional_csv_rows(source, read) -%}
    {%- set table = raw_read_label(source, read) -%}
    {%- set header = run_query('select * from ' ~ read ~ ' limit 1') -%}
    {%- set fields = header.column_names | list -%}
    {%- if header.rows | length == 0 -%}
        {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ' is empty: no header line') }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for value in header.rows[0] -%}
        {%- do names.append((value or '') | trim | lower) -%}
    {%- endfor -%}
    {%- set counted = namespace(fields=0) -%}
    {%- for name in names -%}
        {%- if name -%}{%- set counted.fields = loop.index -%}{%- endif -%}
    {%- endfor -%}
    {%- if counted.fields >= fields | length -%}
        {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ': the header has '
            ~ fields | length ~ ' fields or more; at most ' ~ (fields | length - 1)
            ~ ' are read (the columns listed in `sources:` in dbt_project.yml)') }}
    {%- endif -%}
    {#- the first field of a repeated name wins, as a reader by name would pick it -#}
    {%- set available = {} -%}
    {%- for name in names if name and name not in available -%}
        {%- do available.update({name: adapter.quote(fields[loop.index0])}) -%}
    {%- endfor -%}
    {%- set selected = raw_contract_columns(source, available, table) -%}
    {%- set extras = [] -%}
    {%- for field in fields[counted.fields:] -%}
        {%- do extras.append(adapter.quote(field)) -%}
    {%- endfor -%}
    select
        {%- for expression in selected %}
        {{ expression }},
        {%- endfor %}
        case
            when extra_fields != ''
                then 'record ' || source_record || ': fields beyond the header''s '
                    || '{{ counted.fields }} columns: ' || extra_fields
        end as too_many_fields_detail
    from (
        select
            row_number() over () as source_record,
            concat_ws('|', {{ extras | join(', ') }}) as extra_fields,
            *
        from {{ read }}
    ) as numbered_records
    where source_record > 1
{%- endmacro %}


{#- The input contract of a raw table, applied to the columns it has: the select expressions of
    its declared columns, then of its attribute columns. available: lowercase column name ->
    the expression that reads it; table: the table and what was read, for messages.
    - a declared column present: read as it is, under its declared name;
    - a declared column absent: null (text), or a compilation error when it is `required`;
    - an attribute column (var attribute_columns, '<source>.<table>' -> names): read as text
      under its lowercase name; absent, a compilation error (a deployment listed it, so its
      absence is a mistake, not a choice);
    - any other column: named in a warning, once per compilation of the base model, and not
      read: the build goes on, but the column does not silently vanish. -#}
{% macro raw_contract_columns(source, available, table) -%}
    {%- set contract = ' (input contract: ' ~ source.original_file_path
        ~ ' and docs/input_contract.md)' -%}
    {%- set required = raw_columns_with(source, 'required') -%}
    {%- set selected = [] -%}
    {%- set read_names = [] -%}
    {%- for column in source.columns.values() -%}
        {%- set name = column.name | lower -%}
        {%- do read_names.append(name) -%}
        {%- if name in available -%}
            {%- do selected.append(available[name] ~ ' as ' ~ column.name) -%}
        {%- elif column.name in required -%}
            {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ': required column '
                ~ column.name ~ ' is missing (columns found: '
                ~ (available.keys() | sort | join(', ') or 'none') ~ ')' ~ contract) }}
        {%- else -%}
            {%- do selected.append('cast(null as ' ~ dbt.type_string() ~ ') as ' ~ column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for attribute in attribute_columns(source.source_name ~ '.' ~ source.name) -%}
        {%- if attribute in read_names -%}
            {{ exceptions.raise_compiler_error('var attribute_columns lists ' ~ attribute
                ~ ' for raw table ' ~ table ~ ', which declares it already' ~ contract) }}
        {%- elif attribute not in available -%}
            {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ': attribute column '
                ~ attribute ~ ' (var attribute_columns) is missing (columns found: '
                ~ (available.keys() | sort | join(', ') or 'none') ~ ')') }}
        {%- endif -%}
        {%- do read_names.append(attribute) -%}
        {%- do selected.append('cast(' ~ available[attribute] ~ ' as ' ~ dbt.type_string()
            ~ ') as ' ~ attribute) -%}
    {%- endfor -%}
    {%- set extras = available.keys() | reject('in', read_names) | sort | list -%}
    {%- if extras -%}
        {#- dbt prints a Jinja warning without a label: the message carries its own -#}
        {%- do exceptions.warn('Warning: raw table ' ~ table ~ ' has columns that are neither declared nor'
            ~ ' listed in var attribute_columns, and are not read: ' ~ extras | join(', ')
            ~ contract) -%}
    {%- endif -%}
    {{ return(selected) }}
{%- endmacro %}


{#- '<source>.<table> (<what was read>)', for messages: the file or Parquet folder on DuckDB
    (the expression that reads it is too long to quote), the relation elsewhere. -#}
{% macro raw_read_label(source, read) -%}
    {%- set folder = env_var('HEALTH_RAW_DATA_DIR', 'data/ravenstack') -%}
    {%- set stripped = read.lstrip() -%}
    {%- if stripped.startswith('read_csv(') -%}
        {%- set what = folder ~ '/' ~ source.identifier ~ '.csv' -%}
    {%- elif stripped.startswith('read_parquet(') -%}
        {%- set what = folder ~ '/' ~ source.identifier ~ '/*.parquet' -%}
    {%- else -%}
        {%- set what = stripped -%}
    {%- endif -%}
    {{ return(source.source_name ~ '.' ~ source.name ~ ' (' ~ what ~ ')') }}
{%- endmacro %}


{#- The raw source a source() relation reads, found by its identifier (file or table name);
    none for a unit test's fixture, which stands in for the source. -#}
{% macro raw_source_read_by(relation) -%}
    {%- if model.resource_type == 'unit_test' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for source in raw_sources() if source.identifier == relation.identifier -%}
        {{ return(source) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no raw source reads ' ~ relation) }}
{%- endmacro %}
