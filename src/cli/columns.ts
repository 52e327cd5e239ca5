/**
 * Plain-text columns that fit a width (80 by default, the terminal's when it is wider): no box
 * borders, two spaces between columns. Columns marked `flex` give up width first, their cells
 * wrapped onto further lines (at `_`, `-`, `/` or a space where possible); long free text (error
 * messages) belongs below a table, in `footnotes`, never in a cell.
 */
export const DEFAULT_WIDTH = 80;

export interface Column {
  header: string;
  /** May be narrowed (down to `min`) and wrapped. */
  flex?: boolean;
  min?: number;
  align?: 'left' | 'right';
}

/** Width for tables: the terminal's when stdout is one (at least 80), else 80. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns ? Math.max(DEFAULT_WIDTH, stream.columns) : DEFAULT_WIDTH;
}

const GAP = '  ';

function length(text: string): number {
  return [...text].length;
}

export function formatColumns(columns: Column[], rows: string[][], options: { width?: number; indent?: string; gap?: string } = {}): string {
  const indent = options.indent ?? '';
  const gap = options.gap ?? GAP;
  const budget = (options.width ?? DEFAULT_WIDTH) - length(indent) - gap.length * (columns.length - 1);
  const widths = columns.map((column, i) => Math.max(length(column.header), ...rows.map((row) => length(row[i] ?? ''))));
  // Narrow the widest flexible column, one character at a time, until everything fits.
  for (let total = sum(widths); total > budget; total -= 1) {
    let widest = -1;
    for (const [i, column] of columns.entries()) {
      const min = Math.max(column.min ?? 8, length(column.header));
      if (column.flex && widths[i]! > min && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest < 0) break;
    widths[widest]! -= 1;
  }
  const lines: string[] = [];
  for (const row of [columns.map((c) => c.header), ...rows]) {
    const cells = columns.map((_, i) => wrap(row[i] ?? '', widths[i]!));
    const height = Math.max(...cells.map((cell) => cell.length));
    for (let line = 0; line < height; line += 1) {
      const text = columns
        .map((column, i) => {
          const cell = cells[i]![line] ?? '';
          const pad = ' '.repeat(Math.max(0, widths[i]! - length(cell)));
          return column.align === 'right' ? pad + cell : cell + pad;
        })
        .join(gap);
      lines.push(indent + text.trimEnd());
    }
  }
  return lines.join('\n');
}

/** Numbered notes under a table: `[1] text`, wrapped to the width, continuation lines indented. */
export function footnotes(notes: string[], width = DEFAULT_WIDTH): string {
  return notes
    .map((note, i) => {
      const mark = `[${i + 1}] `;
      return wrap(note.replace(/\s+/g, ' ').trim(), width - mark.length)
        .map((line, j) => (j === 0 ? mark : ' '.repeat(mark.length)) + line)
        .join('\n');
    })
    .join('\n');
}

/** Lines of at most `width` characters, broken after a separator where one is near. */
export function wrap(text: string, width: number): string[] {
  const chars = [...text];
  if (chars.length <= width || width < 1) return [text];
  const lines: string[] = [];
  let rest = chars;
  while (rest.length > width) {
    let cut = width;
    for (let i = width; i > width / 2; i -= 1) {
      if (/[\s_\-/.,]/.test(rest[i - 1]!)) {
        cut = i;
        break;
      }
    }
    lines.push(rest.slice(0, cut).join('').trimEnd());
    rest = rest.slice(cut);
    while (rest[0] === ' ') rest = rest.slice(1);
  }
  if (rest.length > 0) lines.push(rest.join(''));
  return lines;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
