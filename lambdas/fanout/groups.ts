/**
 * The FIFO batch discipline both fan-out consumers share (the fan-out queue and the shard queue): the
 * records of each message group in order, the groups side by side, and a failure that fails the rest of
 * its group, never another group, reported as SQS partial batch failures.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { MetricSink } from '../../shared/metrics';

/**
 * Runs `processGroup` on each message group of `event` (its records in queue order), the groups at once.
 * It returns the index of its first record that failed, or undefined: that record and the later ones of
 * the group go back to SQS as batchItemFailures, in the batch's order. `fanoutFailures` counts each group
 * that failed once: the records held back behind a failure are redelivered but did not fail.
 */
export async function processByGroup(
  event: SQSEvent,
  processGroup: (records: SQSRecord[]) => Promise<number | undefined>,
  metrics: MetricSink,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failed = new Set<string>();
  let failedGroups = 0;
  await Promise.all(
    [...groups.values()].map(async (records) => {
      const firstFailed = await processGroup(records);
      if (firstFailed === undefined) return;
      failedGroups++;
      for (const record of records.slice(firstFailed)) failed.add(record.messageId);
    }),
  );
  const batchItemFailures = event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({
    itemIdentifier: record.messageId,
  }));
  if (failedGroups > 0) metrics.record('fanoutFailures', failedGroups);
  return { batchItemFailures };
}
