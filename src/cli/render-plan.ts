/** The text of `plan --org`: the tables a backup takes and why, then what it leaves out. */
import type { LeftOutTable, OrganizationPlanReport } from '../core/plan-report.js';
import { footnotes, formatColumns, outputWidth } from './columns.js';

const count = (rows: number | null) => (rows === null ? '?' : rows.toLocaleString('en-US'));

function label(item: LeftOutTable): string {
  switch (item.kind) {
    case 'excluded-reference':
      return `excluded; references ${item.related_table}`;
    case 'outside-reference':
      return `not listed; references ${item.related_table}`;
    case 'shared-parent':
      return `shared parent of ${item.related_table}`;
    case 'tenant-like-column':
      return `${item.columns.join(', ')}, no foreign key`;
    case 'null-reference':
      return `${item.columns.join(' / ')} NULL`;
  }
}

export function renderPlan(report: OrganizationPlanReport): string {
  const width = outputWidth();
  const { organization: org } = report;
  const names = [org.code, org.name].filter((part): part is string => Boolean(part));
  const lines = [
    `Organization ${org.id}${names.length > 0 ? ` · ${names.join(' · ')}` : ''} (${report.engine}): a backup would take ${report.total_rows.toLocaleString('en-US')} rows in ${report.tables.length} tables (counted in one snapshot; nothing was written).`,
    '',
    formatColumns(
      [
        { header: 'Table', flex: true, min: 12 },
        { header: 'Rows', align: 'right' },
        { header: 'Taken because', flex: true, min: 20 },
      ],
      report.tables.map((t) => [t.table, count(t.rows), t.detail]),
      { width },
    ),
  ];
  if (report.left_out.length === 0) {
    lines.push('', 'Nothing outside these tables references them, is referenced by them, or looks tagged with the organization.');
  } else {
    lines.push(
      '',
      'Left out of the backup, yet connected to the organization:',
      formatColumns(
        [{ header: 'Table', flex: true, min: 12 }, { header: 'Rows', align: 'right' }, { header: 'How', flex: true, min: 20 }, { header: '' }],
        report.left_out.map((item, i) => [item.table, count(item.rows), label(item), `[${i + 1}]`]),
        { width },
      ),
      footnotes(
        report.left_out.map((item) => `${item.table}: ${item.note}.`),
        width,
      ),
    );
  }
  return lines.join('\n');
}
