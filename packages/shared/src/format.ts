/** Formats a byte count the way `docker system df` does (decimal units, 4 significant digits). */
export function formatBytesDecimal(value: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let n = value;
  let unit = 0;
  while (n >= 1000 && unit < units.length - 1) {
    n /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${n}B` : `${Number(n.toPrecision(4))}${units[unit]}`;
}

/** Formats a byte count in binary units (KiB, MiB, …) with up to one decimal. */
export function formatBytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let n = value;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : 1)} ${units[unit]}`;
}
