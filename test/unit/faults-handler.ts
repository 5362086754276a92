/** A handler whose body a test sets: local/functions.ts loads it by path, as it loads a Lambda's entry. */
export const behaviour: { run: (event: unknown) => Promise<unknown> } = { run: async () => undefined };

export const handler = (event: unknown): Promise<unknown> => behaviour.run(event);
