/**
 * Slot accounting of one worker: at most `capacity` deliveries in flight, counting slots
 * promised to a claim in progress, so the worker never claims more messages than it can run
 * (nothing waits in memory). Pure bookkeeping: the worker decides when to claim.
 */
export class Slots<T> {
  private readonly inflight = new Map<string, T>();
  private reserved = 0;

  constructor(
    private readonly capacity: number,
    /** Called with the number of deliveries in flight whenever it changes. */
    private readonly onChange: (inFlight: number) => void = () => {},
  ) {}

  /** Slots neither running a delivery nor promised to a claim. */
  free(): number {
    return Math.max(0, this.capacity - this.inflight.size - this.reserved);
  }

  /** Promises `count` slots to a claim until the returned function is called (once). */
  reserve(count: number): () => void {
    this.reserved += count;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= count;
    };
  }

  occupy(id: string, delivery: T): void {
    this.inflight.set(id, delivery);
    this.onChange(this.inflight.size);
  }

  /** Frees the slot of `id`; false when it was free already. */
  vacate(id: string): boolean {
    const had = this.inflight.delete(id);
    if (had) this.onChange(this.inflight.size);
    return had;
  }

  get(id: string): T | undefined {
    return this.inflight.get(id);
  }

  deliveries(): T[] {
    return [...this.inflight.values()];
  }

  get inFlight(): number {
    return this.inflight.size;
  }
}
