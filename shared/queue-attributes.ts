/** SQS message attributes that the fan-out and the redrive agree on. */

/** Marks a letter the fan-out can never process; the redrive leaves it in place by default. */
export const POISON_ATTRIBUTE = 'poison';

/** Counts how often a letter was redriven; carried along so the count keeps growing. */
export const REDRIVE_COUNT_ATTRIBUTE = 'redriveCount';
