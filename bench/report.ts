/**
 * The counted bill in words and pictures: Markdown tables and a plain SVG bar chart, written into
 * docs/cost.md (between its bench markers, so the page's prose stays) and docs/cost.svg.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { callsByOperation, type MeterCounts, type OperationCounts, usageOf } from './meter';
import { BILL_LINES, type Bill, billTotal, floorPerMessage, priceUsage, type Usage } from './prices';

/** One scenario's bill, per message. */
export interface BillRow {
  id: string;
  title: string;
  messages: number;
  recipientConnections: number;
  retries: number;
  counts: MeterCounts;
  /** Usage per message. */
  usage: Usage;
  /** Dollars per message, by line. */
  bill: Bill;
  total: number;
  floor: number;
}

export function billRow(
  scenario: { id: string; title: string },
  result: { counts: MeterCounts; messages: number; recipientConnections: number; retries: number },
): BillRow {
  const total = usageOf(result.counts);
  const usage = Object.fromEntries(
    Object.entries(total).map(([key, value]) => [key, value / Math.max(1, result.messages)]),
  ) as unknown as Usage;
  const bill = priceUsage(usage);
  return {
    ...scenario,
    ...result,
    usage,
    bill,
    total: billTotal(bill),
    floor: floorPerMessage(result.recipientConnections),
  };
}

const perMillion = (dollars: number): string => `$${(dollars * 1e6).toFixed(2)}`;
const fixed = (value: number, digits = 2): string => value.toFixed(digits).replace(/\.?0+$/, '') || '0';
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;

/** What each scenario counted, per message. */
function countsTable(rows: BillRow[]): string {
  const lines = [
    row([
      'Scenario',
      'Messages',
      'Frames in / out',
      'KB in / out',
      'RRU / WRU',
      'SQS requests',
      'Lambda invocations / GB-s',
      'Log bytes',
      'Resends',
    ]),
    row(Array.from({ length: 9 }, () => '---')),
  ];
  for (const r of rows) {
    const m = Math.max(1, r.messages);
    const { frames } = r.counts;
    lines.push(
      row([
        r.title,
        r.messages,
        `${fixed(frames.in / m)} / ${fixed(frames.out / m)}`,
        `${fixed(frames.bytesIn / m / 1024)} / ${fixed(frames.bytesOut / m / 1024)}`,
        `${fixed(r.usage.readUnits)} / ${fixed(r.usage.writeUnits)}`,
        fixed(r.usage.sqsRequests),
        `${fixed(r.usage.lambdaRequests)} / ${r.usage.lambdaGbSeconds.toFixed(4)}`,
        Math.round(r.usage.logBytes),
        fixed(r.retries / m),
      ]),
    );
  }
  return lines.join('\n');
}

/** One operation's requests per message, with the units DynamoDB counted for them. */
function operationCell(counts: OperationCounts | undefined, messages: number): string {
  if (counts === undefined) return '';
  const m = Math.max(1, messages);
  const units = [
    counts.readUnits > 0 ? `${fixed(counts.readUnits / m)} RRU` : '',
    counts.writeUnits > 0 ? `${fixed(counts.writeUnits / m)} WRU` : '',
  ].filter((unit) => unit !== '');
  return `${fixed(counts.requests / m)}${units.length > 0 ? ` (${units.join(', ')})` : ''}`;
}

/** SDK requests per message by operation, one column per scenario. */
function callsTable(rows: BillRow[]): string {
  const perScenario = rows.map((r) => callsByOperation(r.counts));
  const operations = [...new Set(perScenario.flatMap((calls) => Object.keys(calls)))].sort();
  const lines = [
    row(['SDK requests per message', ...rows.map((r) => r.title)]),
    row(['---', ...rows.map(() => '---:')]),
  ];
  for (const operation of operations) {
    lines.push(
      row([
        operation,
        ...perScenario.map((calls, i) => operationCell(calls[operation], rows[i]?.messages ?? 1)),
      ]),
    );
  }
  return lines.join('\n');
}

/** Dollars per million messages by line, with the floor and the ratio. */
function billTable(rows: BillRow[]): string {
  const lines = [
    row(['$ per million messages', ...BILL_LINES, 'Total', 'Floor', '× floor']),
    row(['---', ...BILL_LINES.map(() => '---:'), '---:', '---:', '---:']),
  ];
  for (const r of rows) {
    lines.push(
      row([
        r.title,
        ...BILL_LINES.map((line) => perMillion(r.bill[line])),
        `**${perMillion(r.total)}**`,
        perMillion(r.floor),
        `**${(r.total / r.floor).toFixed(2)}×**`,
      ]),
    );
  }
  return lines.join('\n');
}

/** The whole generated section: the bill, the counts and the requests. */
export function markdownReport(rows: BillRow[], meta: { date: string; command: string }): string {
  return [
    `Counted on ${meta.date} with \`${meta.command}\` (local runtime, this machine).`,
    '',
    '![The counted bill per scenario, as a multiple of its floor](cost.svg)',
    '',
    billTable(rows),
    '',
    countsTable(rows),
    '',
    callsTable(rows),
  ].join('\n');
}

const COLORS: Record<(typeof BILL_LINES)[number], string> = {
  'API Gateway': '#4e79a7',
  Lambda: '#f28e2b',
  DynamoDB: '#59a14f',
  SQS: '#e15759',
  'CloudWatch Logs': '#b07aa1',
  Other: '#9c755f',
};

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * One bar per scenario, its length the counted bill as a multiple of the scenario's floor (so a 1:1
 * chat and a room share one scale), split by service; the dashed line is the floor.
 */
export function svgChart(rows: BillRow[], date: string): string {
  const labelWidth = 300;
  const barWidth = 420;
  const rowHeight = 40;
  const top = 40;
  const maxRatio = Math.max(2, Math.ceil(Math.max(...rows.map((r) => r.total / r.floor))));
  const x = (ratio: number) => labelWidth + (ratio / maxRatio) * barWidth;
  const height = top + rows.length * rowHeight + 70;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 200}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>Counted bill per message, as a multiple of its floor (${escapeXml(date)})</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Counted bill per message, as a multiple of its floor (${escapeXml(date)})</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="10" y="${y + 18}">${escapeXml(r.title)}</text>`);
    let ratio = 0;
    for (const line of BILL_LINES) {
      const share = r.bill[line] / r.floor;
      if (share <= 0) continue;
      parts.push(
        `<rect x="${x(ratio).toFixed(1)}" y="${y + 4}" width="${(x(ratio + share) - x(ratio)).toFixed(1)}" height="20" fill="${COLORS[line]}"><title>${escapeXml(line)}: ${perMillion(r.bill[line])} per million</title></rect>`,
      );
      ratio += share;
    }
    parts.push(
      `<text x="${(x(ratio) + 6).toFixed(1)}" y="${y + 18}">${perMillion(r.total)}/M · ${(r.total / r.floor).toFixed(2)}×</text>`,
    );
  });
  const axisY = top + rows.length * rowHeight;
  for (let tick = 0; tick <= maxRatio; tick++) {
    parts.push(`<text x="${x(tick).toFixed(1)}" y="${axisY + 14}" text-anchor="middle">${tick}×</text>`);
  }
  parts.push(
    `<line x1="${x(1).toFixed(1)}" y1="${top - 4}" x2="${x(1).toFixed(1)}" y2="${axisY}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${(x(1) + 4).toFixed(1)}" y="${top - 8}">floor</text>`,
  );
  BILL_LINES.forEach((line, i) => {
    const lx = 10 + i * 125;
    parts.push(
      `<rect x="${lx}" y="${axisY + 34}" width="12" height="12" fill="${COLORS[line]}"/>`,
      `<text x="${lx + 16}" y="${axisY + 44}">${escapeXml(line)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export const REPORT_START =
  '<!-- bench:bill:start (written by npm run bench; edit bench/report.ts instead) -->';
export const REPORT_END = '<!-- bench:bill:end -->';

/** `page` with the text between its bench markers replaced by `section`. */
export function replaceSection(page: string, section: string): string {
  const start = page.indexOf(REPORT_START);
  const end = page.indexOf(REPORT_END);
  if (start < 0 || end < start)
    throw new Error(`docs/cost.md lacks the markers ${REPORT_START} … ${REPORT_END}`);
  return `${page.slice(0, start + REPORT_START.length)}\n${section}\n${page.slice(end)}`;
}

/** Writes the section into `markdownPath` and the chart into `svgPath`. */
export function writeReport(
  rows: BillRow[],
  meta: { date: string; command: string },
  paths: { markdown: string; svg: string },
): void {
  writeFileSync(
    paths.markdown,
    replaceSection(readFileSync(paths.markdown, 'utf8'), markdownReport(rows, meta)),
  );
  writeFileSync(paths.svg, svgChart(rows, meta.date));
}
