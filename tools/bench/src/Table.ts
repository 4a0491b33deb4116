/**
 * Plain-text tables for benchmark output: columns padded to their widest cell.
 */
export type Cell = string | number

const format = (cell: Cell): string =>
  typeof cell === "number"
    ? Number.isNaN(cell)
      ? "-"
      : Number.isInteger(cell)
        ? String(cell)
        : Math.abs(cell) >= 100
        ? cell.toFixed(0)
        : Math.abs(cell) >= 10
          ? cell.toFixed(1)
          : cell.toFixed(3)
    : cell

export const render = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string => {
  const cells = [header.slice(), ...rows.map((r) => r.map(format))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)))
  const line = (r: ReadonlyArray<string>) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n")
}
