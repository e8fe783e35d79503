/** Lets pending promise chains run: a few turns of the event loop, no wall-clock wait. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A clock and timers that move only when a test tells them to (for the scheduler's injectable timers). */
export class FakeClock {
  private timers = new Map<number, { at: number; callback: () => void }>();
  private nextId = 1;
  constructor(public time: number) {}
  readonly now = () => new Date(this.time);
  readonly setTimer = (callback: () => void, delayMs: number) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + delayMs, callback });
    return id;
  };
  readonly clearTimer = (handle: unknown) => {
    this.timers.delete(handle as number);
  };
  get pending(): number {
    return this.timers.size;
  }
  /** Delays of the pending timers, ascending. */
  delays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }
  /**
   * Moves time forward, firing each timer due on the way at its own time and awaiting `settled()` after
   * each and once at the end, so the work a timer starts finishes before the next fires.
   */
  async advance(ms: number, settled: () => Promise<void> = settle): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      let first: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (!first || entry[1].at < first[1].at) first = entry;
      if (!first || first[1].at > target) break;
      this.timers.delete(first[0]);
      this.time = Math.max(this.time, first[1].at);
      first[1].callback();
      await settled();
    }
    this.time = target;
    await settled();
  }
}
