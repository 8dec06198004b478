/**
 * How long the other end of a connection has been silent, as a heartbeat timer sees it.
 * A timer that ran late means this side's event loop was busy, and what the other end
 * sent meanwhile is still unread: that says nothing about the other end, so it gets a
 * fresh window instead of the blame. The client's link to its tracker and the link
 * between the trackers both time out on this.
 */
export class Silence {
  private lastHeard: number;
  private lastBeat: number;

  constructor(
    /** How often `beat` is called. */
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {
    this.lastHeard = this.lastBeat = now();
  }

  /** Something (a frame, a pong) came from the other end. */
  heard(): void {
    this.lastHeard = this.now();
  }

  /** Called by the heartbeat timer: the ms of silence the other end answers for. */
  beat(): number {
    const now = this.now();
    if (now - this.lastBeat > 2 * this.intervalMs) this.lastHeard = now;
    this.lastBeat = now;
    return now - this.lastHeard;
  }
}
