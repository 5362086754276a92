/**
 * Wraps a read so that calls made while one runs do not start more: they share the running one and
 * ask for a single run after it. A burst of N triggers is two reads at most, and since they never
 * overlap, an older answer never lands after a newer one.
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const start = (): Promise<void> => {
    running = run().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void start();
      }
    });
    return running;
  };
  return () => {
    if (running === undefined) return start();
    again = true;
    return running;
  };
}
