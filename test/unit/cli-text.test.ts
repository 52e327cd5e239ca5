/**
 * Text the CLI prints: columns that fit a width, notes below tables, the exit-code table (one
 * source for --help and the README), and `--since`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { footnotes, formatColumns, wrap } from '../../src/cli/columns.js';
import { EXIT_CODE_TABLE, EXIT_CODES, exitCodeHelp } from '../../src/cli/exit-codes.js';
import { parseSince } from '../../src/core/list.js';

describe('columns', () => {
  it('narrows flexible columns and wraps their cells so every line fits', () => {
    const rows = [
      ['a-very-long-tenant-name-that-would-never-fit-a-column.example_2026-11-27_04-07-42.zip', 'pre_restore', '2026-11-27 04:07', '1023.5 MiB'],
      ['org_acme_friday_backup.zip', 'manual', '2026-11-27 04:07', 'failed [1]'],
    ];
    const text = formatColumns([{ header: 'File', flex: true, min: 16 }, { header: 'Type' }, { header: 'Made' }, { header: 'Size / status', align: 'right' }], rows, {
      width: 80,
      indent: '  ',
    });
    const lines = text.split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    // Every character of the long name is still there, across its lines.
    const fileColumn = lines.slice(1).map((line) => line.slice(2, line.indexOf('  ', 2) === -1 ? undefined : line.indexOf('  ', 2)).trim());
    expect(fileColumn.join('')).toContain(rows[0]![0]!.replace(/\s/g, ''));
    expect(lines[1]).toMatch(/pre_restore {2}2026-11-27 04:07 {2}\s*1023\.5 MiB$/);
  });

  it('leaves a table that fits as it is', () => {
    expect(
      formatColumns(
        [{ header: 'A' }, { header: 'B', align: 'right' }],
        [
          ['x', '1'],
          ['yy', '22'],
        ],
      ),
    ).toBe('A    B\nx    1\nyy  22');
  });

  it('numbers notes and wraps them with a hanging indent', () => {
    const text = footnotes([`Backup failed: ${'word '.repeat(30)}\nend`], 40);
    const lines = text.split('\n');
    expect(lines[0]!.startsWith('[1] Backup failed: ')).toBe(true);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(40);
    for (const line of lines.slice(1)) expect(line.startsWith('    ')).toBe(true);
    expect(lines.at(-1)).toMatch(/end$/);
  });

  it('breaks long tokens at separators where it can', () => {
    expect(wrap('org_acme_friday_backup.zip', 12)).toEqual(['org_acme_', 'friday_', 'backup.zip']);
  });
});

describe('exit codes', () => {
  it('--help lists exactly the codes of the table, and every mapped code has a meaning', () => {
    const help = exitCodeHelp();
    const listed = [...help.matchAll(/^ {2}(\d+)\s/gm)].map((m) => Number(m[1]));
    expect(listed).toEqual(EXIT_CODE_TABLE.map((row) => row.code));
    expect(new Set(Object.values(EXIT_CODES))).toEqual(new Set(listed));
    expect(listed).not.toContain(10);
  });

  it('the README shows the same table', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const start = readme.indexOf('### Exit codes');
    const section = readme.slice(start, readme.indexOf('\n## ', start));
    const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2] }));
    expect(rows).toEqual(EXIT_CODE_TABLE.map((row) => ({ ...row })));
  });
});

describe('--since', () => {
  const now = new Date('2026-11-27T08:00:00Z');
  it('takes durations, dates in the configured zone and ISO times', () => {
    expect(parseSince('12h', now, 'UTC').toISOString()).toBe('2026-11-26T20:00:00.000Z');
    expect(parseSince('2w', now, 'UTC').toISOString()).toBe('2026-11-13T08:00:00.000Z');
    expect(parseSince('2026-11-20', now, 'Europe/Berlin').toISOString()).toBe('2026-11-19T23:00:00.000Z');
    expect(parseSince('2026-07-01', now, 'Europe/Berlin').toISOString()).toBe('2026-06-30T22:00:00.000Z');
    expect(parseSince('2026-11-20T08:00:00+01:00', now, 'UTC').toISOString()).toBe('2026-11-20T07:00:00.000Z');
  });
  it('refuses anything else', () => {
    for (const bad of ['yesterday', '7', '2026-02-30', '2026-11-20T08:00:00', '-1d']) expect(() => parseSince(bad, now, 'UTC'), bad).toThrow(/Invalid --since/);
  });
});
