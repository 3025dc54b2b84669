/**
 * Native column types of the two current Storage backends, for typed tables created through
 * `tables-definition` (docs/storage-api-notes.md, Typed tables across backends). A definition
 * carries its backend's own type names: a Snowflake `NUMBER(38,0)` is no BigQuery type, and
 * BigQuery's `NUMERIC` holds at most 29 digits. A column given only a `basetype` gets the
 * backend's type for it. Other backends (`redshift`, `synapse`, …) are not modelled: any type
 * passes and base types map to Snowflake's names. Pure.
 */

const SNOWFLAKE_TYPES = new Set(
  'NUMBER,DECIMAL,NUMERIC,INT,INTEGER,BIGINT,SMALLINT,TINYINT,BYTEINT,FLOAT,FLOAT4,FLOAT8,DOUBLE,DOUBLE PRECISION,REAL,VARCHAR,CHAR,CHARACTER,STRING,TEXT,BINARY,VARBINARY,BOOLEAN,DATE,DATETIME,TIME,TIMESTAMP,TIMESTAMP_LTZ,TIMESTAMP_NTZ,TIMESTAMP_TZ,VARIANT,OBJECT,ARRAY,GEOGRAPHY,GEOMETRY,VECTOR'.split(
    ',',
  ),
);

const BIGQUERY_TYPES = new Set(
  'STRING,BYTES,INT64,INT,INTEGER,SMALLINT,BIGINT,TINYINT,BYTEINT,NUMERIC,DECIMAL,BIGNUMERIC,BIGDECIMAL,FLOAT64,BOOL,BOOLEAN,DATE,DATETIME,TIME,TIMESTAMP,GEOGRAPHY,JSON,INTERVAL,ARRAY,STRUCT'.split(
    ',',
  ),
);

const SNOWFLAKE_BY_BASETYPE: Readonly<Record<string, string>> = {
  STRING: 'VARCHAR',
  INTEGER: 'NUMBER',
  NUMERIC: 'NUMBER',
  FLOAT: 'FLOAT',
  BOOLEAN: 'BOOLEAN',
  DATE: 'DATE',
  TIMESTAMP: 'TIMESTAMP_NTZ',
};

const BIGQUERY_BY_BASETYPE: Readonly<Record<string, string>> = {
  STRING: 'STRING',
  INTEGER: 'INT64',
  NUMERIC: 'NUMERIC',
  FLOAT: 'FLOAT64',
  BOOLEAN: 'BOOL',
  DATE: 'DATE',
  TIMESTAMP: 'TIMESTAMP',
};

/** BigQuery `NUMERIC`/`DECIMAL`: at most 29 digits, 9 of them after the point. */
const BIGQUERY_NUMERIC_MAX = { precision: 29, scale: 9 };

/** Storage base type of a backend type (Snowflake and BigQuery names). */
export function basetypeOf(type: string): string {
  const upper = type.toUpperCase();
  if (/CHAR|STRING|TEXT/.test(upper)) return 'STRING';
  if (/^(INT|INT64|INTEGER|BIGINT|SMALLINT|TINYINT|BYTEINT)$/.test(upper)) return 'INTEGER';
  if (/NUMBER|NUMERIC|DECIMAL/.test(upper)) return 'NUMERIC';
  if (/FLOAT|DOUBLE|REAL/.test(upper)) return 'FLOAT';
  if (upper.startsWith('BOOL')) return 'BOOLEAN';
  if (upper === 'DATE') return 'DATE';
  if (upper.startsWith('TIMESTAMP') || upper === 'DATETIME') return 'TIMESTAMP';
  return 'STRING';
}

/** The backend's type for a base type (`STRING` when the base type is unknown). */
export function typeForBasetype(backend: string, basetype: string): string {
  const byBasetype = backend === 'bigquery' ? BIGQUERY_BY_BASETYPE : SNOWFLAKE_BY_BASETYPE;
  return byBasetype[basetype] ?? byBasetype.STRING ?? 'VARCHAR';
}

/**
 * Why the backend cannot hold a column of this type and length, or undefined when it can.
 * The sentence is the emulator's own; the real service's wording is not known.
 */
export function typeProblem(
  backend: string,
  type: string,
  length: string | null,
): string | undefined {
  const types =
    backend === 'bigquery' ? BIGQUERY_TYPES : backend === 'snowflake' ? SNOWFLAKE_TYPES : undefined;
  if (!types) return undefined;
  const upper = type.toUpperCase();
  if (!types.has(upper)) return `Type "${type}" is not a ${backend} type.`;
  if (backend === 'bigquery' && (upper === 'NUMERIC' || upper === 'DECIMAL') && length) {
    const [precision = 0, scale = 0] = length.split(',').map((part) => Number(part.trim()));
    if (precision > BIGQUERY_NUMERIC_MAX.precision || scale > BIGQUERY_NUMERIC_MAX.scale) {
      return `Length "${length}" is out of range for ${upper} on bigquery (at most ${BIGQUERY_NUMERIC_MAX.precision},${BIGQUERY_NUMERIC_MAX.scale}).`;
    }
  }
  return undefined;
}
