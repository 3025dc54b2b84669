/**
 * Native column types of the two current Storage backends, for typed tables created through
 * `tables-definition` or a seed (docs/storage-api-notes.md, Typed tables across backends). A
 * definition carries its backend's own type names: a Snowflake `NUMBER(38,0)` is no BigQuery
 * type, and BigQuery's `NUMERIC` holds at most 29 digits before the point. A column given only a
 * `basetype` gets the backend's type for it. Other backends (`redshift`, `synapse`, …) are not
 * modelled: any type passes and base types map to Snowflake's names. Pure.
 */

/** A project's backend when its seed names none. */
export const DEFAULT_BACKEND = 'snowflake';

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

/**
 * BigQuery's decimal types with a length `P` or `P,S` (precision, scale; S defaults to 0): S may
 * be 0 to `maxScale`, and P from max(1, S) to S + `maxIntegerDigits` (docs/storage-api-notes.md,
 * Typed tables across backends).
 */
const BIGQUERY_DECIMALS: Readonly<Record<string, { maxScale: number; maxIntegerDigits: number }>> =
  {
    NUMERIC: { maxScale: 9, maxIntegerDigits: 29 },
    DECIMAL: { maxScale: 9, maxIntegerDigits: 29 },
    BIGNUMERIC: { maxScale: 38, maxIntegerDigits: 38 },
    BIGDECIMAL: { maxScale: 38, maxIntegerDigits: 38 },
  };

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
  const decimal = backend === 'bigquery' ? BIGQUERY_DECIMALS[upper] : undefined;
  if (decimal && length !== null && length !== '') {
    const { maxScale, maxIntegerDigits } = decimal;
    if (!decimalLengthFits(length, maxScale, maxIntegerDigits)) {
      return (
        `Length "${length}" is out of range for ${upper} on bigquery (precision P and scale S ` +
        `with S at most ${maxScale} and P from max(1, S) to S + ${maxIntegerDigits}).`
      );
    }
  }
  return undefined;
}

/** Whether a length `P` or `P,S` (whole numbers) has S ≤ maxScale, max(1, S) ≤ P ≤ S + maxIntegerDigits. */
function decimalLengthFits(length: string, maxScale: number, maxIntegerDigits: number): boolean {
  const parts = length.split(',').map((part) => part.trim());
  if (parts.length > 2 || !parts.every((part) => /^\d+$/.test(part))) return false;
  const precision = Number(parts[0]);
  const scale = Number(parts[1] ?? '0');
  return (
    scale <= maxScale && Math.max(1, scale) <= precision && precision <= scale + maxIntegerDigits
  );
}
