/**
 * What a start must undo, undone once however many ask: Ctrl-C while the stack starts, and the
 * start failing because of it, both stop it. The cleanups run newest first until none is left,
 * including those added while they run; one added after the stop (a step of the start that was
 * still running when Ctrl-C came) runs at once. (Two overlapping passes over one array, each
 * reversing it, once skipped the embedded Postgres and left it running.)
 */
export interface Cleanups {
  add(cleanup: () => Promise<unknown>): void;
  /** Runs every cleanup; the same promise for every caller. A failing cleanup does not stop the others. */
  stop(): Promise<void>;
}

export function cleanups(): Cleanups {
  const list: (() => Promise<unknown>)[] = [];
  let stopping: Promise<void> | undefined;
  let stopped = false;
  const run = (c: () => Promise<unknown>) =>
    Promise.resolve()
      .then(c)
      .catch(() => {});
  return {
    add(c) {
      if (stopped) void run(c);
      else list.push(c);
    },
    stop: () =>
      (stopping ??= (async () => {
        for (let c = list.pop(); c; c = list.pop()) await run(c);
        stopped = true;
      })()),
  };
}
