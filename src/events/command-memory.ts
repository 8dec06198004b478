/**
 * The fold's memory of the commands it applied, by idempotency key, for COMMAND_MEMORY_MS
 * of HLC time (see state.ts): what makes a command that both trackers ran apply once.
 *
 * Built for a catch-up's million events: keys arrive in fold order, so the oldest is
 * always first and forgetting is a walk from the front of a queue, O(1) per key; the
 * queue is parallel arrays (no object per key), and the Map only finds a key's place in
 * it. (A Map walked from its front instead costs the entries deleted before, which V8
 * keeps until it rehashes: a catch-up took nine times as long that way.)
 */

/** A command the fold applied, under its idempotency key: the event that carried the key first. */
export interface AppliedCommand {
  readonly origin: number;
  readonly seq: number;
  /** Its hlc in ms: it is forgotten COMMAND_MEMORY_MS later. */
  readonly at: number;
}

export class CommandMemory {
  /** Key -> its place in the queue, counted from the first key ever remembered. */
  private readonly placeOf = new Map<string, number>();
  /** The queue, oldest first: entry i of the arrays is place `dropped + i`. */
  private keyAt: string[] = [];
  private originAt: number[] = [];
  private seqAt: number[] = [];
  private msAt: number[] = [];
  /** Places before `dropped` are gone from the arrays; before `oldest`, forgotten. */
  private dropped = 0;
  private oldest = 0;

  /** A memory holding `entries`, oldest first (as `entries()` lists them). */
  static of(entries: Iterable<readonly [string, AppliedCommand]>): CommandMemory {
    const memory = new CommandMemory();
    for (const [key, c] of entries) memory.remember(key, c.origin, c.seq, c.at);
    return memory;
  }

  get size(): number {
    return this.placeOf.size;
  }

  get(key: string): AppliedCommand | undefined {
    const place = this.placeOf.get(key);
    return place === undefined ? undefined : this.at(place - this.dropped);
  }

  /** Remembers a key not held yet, applied no earlier than any held (fold order). */
  remember(key: string, origin: number, seq: number, at: number): void {
    this.placeOf.set(key, this.dropped + this.keyAt.length);
    this.keyAt.push(key);
    this.originAt.push(origin);
    this.seqAt.push(seq);
    this.msAt.push(at);
  }

  /** Forgets every command applied at or before `ms`. */
  forgetUpTo(ms: number): void {
    const { keyAt, msAt, placeOf, dropped } = this;
    let i = this.oldest - dropped;
    while (i < keyAt.length && msAt[i]! <= ms) placeOf.delete(keyAt[i++]!);
    this.oldest = dropped + i;
    if (i > 1024 && i * 2 > keyAt.length) {
      this.keyAt = keyAt.slice(i);
      this.originAt = this.originAt.slice(i);
      this.seqAt = this.seqAt.slice(i);
      this.msAt = msAt.slice(i);
      this.dropped += i;
    }
  }

  /** Oldest first. */
  *entries(): IterableIterator<[string, AppliedCommand]> {
    for (let i = this.oldest - this.dropped; i < this.keyAt.length; i++) yield [this.keyAt[i]!, this.at(i)];
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  private at(i: number): AppliedCommand {
    return { origin: this.originAt[i]!, seq: this.seqAt[i]!, at: this.msAt[i]! };
  }
}
