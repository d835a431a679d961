/** A cell value as exports hold it. */
export type CsvCell = string | number | boolean | null | undefined | Date;

// Spreadsheets evaluate cells starting with these as formulas; an audit export must never run
// a hostname or a plan note as one (CSV injection), so such text cells get a leading quote.
const FORMULA_START = /^[=+\-@\t\r]/;

function cell(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  // RFC 4180: quote fields holding a comma, quote or line break; double the quotes inside.
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV with a header row and CRLF line ends. */
export function toCsv(header: string[], rows: CsvCell[][]): string {
  return [header, ...rows].map((row) => `${row.map(cell).join(',')}\r\n`).join('');
}
