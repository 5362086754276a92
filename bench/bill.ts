/**
 * The counted bill (issue 17 point 5): runs the chosen scenarios on one local runtime with the meter
 * attached, prices what each counted, prints the tables and writes them with the chart into docs/.
 */
import * as path from 'node:path';
import type { LocalRuntime } from '../local/runtime';
import { ChatClient } from '../test/e2e/chat-client';
import { type Instrumentation, meterClient } from './instrument';
import type { BillMeter, MeterCounts } from './meter';
import { type BillRow, billRow, markdownReport, writeReport } from './report';
import { SCENARIOS, type Scenario } from './scenarios';

/** How long the runtime must report nothing before a count starts or ends. */
const QUIET_MS = 1_000;

/**
 * Waits until the runtime has been quiet for QUIET_MS. A runtime still busy after a minute (a backlog of
 * earlier work) fails the count rather than slip that work into it.
 */
async function quiet(instrumentation: Instrumentation): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (performance.now() - instrumentation.lastEventAt() < QUIET_MS) {
    if (Date.now() > deadline)
      throw new Error('The local runtime never went quiet: a count now would include other work');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const DOCS = path.join(__dirname, '..', 'docs');

/**
 * Runs `scenarios` one after another and prints the bill. When they are every scenario, it also writes
 * docs/cost.md's section and docs/cost.svg: a run of some scenarios must not replace the whole table.
 */
export async function runBill(
  runtime: LocalRuntime,
  scenarios: Scenario[],
  meter: BillMeter,
  instrumentation: Instrumentation,
): Promise<BillRow[]> {
  const measure = async (work: () => Promise<void>): Promise<MeterCounts> => {
    // Setup's stragglers (presence pushes, subscription writes) must not land in the count.
    await quiet(instrumentation);
    meter.start();
    try {
      await work();
      await quiet(instrumentation);
    } finally {
      meter.stop();
    }
    return meter.counts();
  };
  const context = {
    runtime,
    connect: async (userId: string) =>
      meterClient(await ChatClient.connect(await runtime.connectUrl(userId)), meter),
    measure,
  };
  const rows: BillRow[] = [];
  for (const scenario of scenarios) {
    const started = performance.now();
    rows.push(billRow(scenario, await scenario.run(context)));
    console.log(`  counted ${scenario.title} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const meta = {
    date: new Date().toISOString().slice(0, 10),
    command: `npm run bench -- ${scenarios.map((scenario) => scenario.id).join(' ')}`,
  };
  console.log(`\n${markdownReport(rows, meta)}\n`);
  if (SCENARIOS.every((scenario) => scenarios.includes(scenario))) {
    writeReport(rows, meta, { markdown: path.join(DOCS, 'cost.md'), svg: path.join(DOCS, 'cost.svg') });
    console.log('  written to docs/cost.md and docs/cost.svg');
  } else {
    console.log('  not written to docs/cost.md: only `npm run bench -- bill` (every scenario) rewrites it');
  }
  return rows;
}
