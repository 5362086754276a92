/** A minimal typed event emitter (the SDK has no runtime dependency, and Node's is not in browsers). */
export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<(event: never) => void>>();

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        (listener as (event: Events[K]) => void)(event);
      } catch (err: unknown) {
        // A throwing listener must not leave the SDK's state half-updated; report it outside our frame.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
