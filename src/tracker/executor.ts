/**
 * Runs commands against the ledger: decide on the current state, commit the events,
 * and answer only once they are durable here (and, while the twin is linked, there too:
 * see ReplicationBarrier). A command retried with the same idempotency key is answered
 * with the events its first run produced and never applies twice, whichever tracker
 * ran it first: here by the key's events in the log, and, for the copies that both
 * trackers ran before either saw the other's, by the fold (see evolve), which needs
 * every copy stamped within COMMAND_MEMORY_MS of the others. Hence the deadline: a
 * command is run within COMMAND_DEADLINE_MS of being read, or not at all.
 */
import { decide, type Command, type Envelope, type Rejection } from '../events/index.js';
import type { Ledger } from '../events/log/ledger.js';

/** How long after reading a client's command a tracker may still run it (see the fold's COMMAND_MEMORY_MS). */
export const COMMAND_DEADLINE_MS = 30_000;

/** A client's command as sent: its idempotency key, and when this tracker read it (performance.now()). */
export interface Submission {
  readonly idem: string | null;
  readonly readAt: number;
}

export interface ReplicationBarrier {
  /** Resolves when the twin holds these events durably, or when waiting is pointless. */
  awaitReplicated(envelopes: readonly Envelope[]): Promise<void>;
  /**
   * Undefined while local commits may go ahead. Otherwise (this tracker is catching up on
   * its own origin) a promise that resolves when they may, so the command is decided on
   * the caught-up state, or rejects after a bounded wait: the command is then refused
   * with TRACKER_CATCHING_UP, which is safe to retry.
   */
  holdCommits?(): Promise<void> | undefined;
}

const TIMED_OUT: Rejection = {
  code: 'TIMED_OUT',
  message: 'this tracker was too slow to run the command and did not run it; try again',
};

/** The refusal of a command held too long while the tracker caught up (retryable). */
export const CATCHING_UP: Rejection = {
  code: 'TRACKER_CATCHING_UP',
  message: 'this tracker is catching up with its twin; try again in a moment',
};

export type Outcome =
  | { readonly ok: true; readonly events: readonly Envelope[]; readonly repeated: boolean }
  | { readonly ok: false; readonly rejection: Rejection };

export class Executor {
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  barrier: ReplicationBarrier | undefined;

  constructor(private readonly ledger: Ledger) {}

  /** The events an earlier run of this idempotency key produced, if it ran. */
  previous(idem: string | null): Promise<Outcome> | Outcome | undefined {
    if (idem === null) return undefined;
    const running = this.inFlight.get(idem);
    if (running) return running;
    const first = this.ledger.store.byIdem(idem);
    return first && { ok: true, events: [first], repeated: true };
  }

  /** Runs a command: a client's (`sent`), or the tracker's own (no key, no deadline). */
  execute(command: Command, sent?: Submission): Promise<Outcome> {
    const idem = sent?.idem ?? null;
    const earlier = this.previous(idem);
    if (earlier) return Promise.resolve(earlier);
    const hold = this.barrier?.holdCommits?.();
    if (hold) return hold.then(() => this.execute(command, sent), (): Outcome => ({ ok: false, rejection: CATCHING_UP }));
    // From here to the stamping in ledger.commit is one synchronous turn: a stall cannot
    // slip between this check and the command's hlc.
    if (sent && performance.now() - sent.readAt > COMMAND_DEADLINE_MS) return Promise.resolve({ ok: false, rejection: TIMED_OUT });
    const decision = decide(this.ledger.current, command);
    if (!decision.ok) return Promise.resolve(decision);
    const run = this.commit(decision.events, idem);
    if (idem !== null) {
      this.inFlight.set(idem, run);
      void run.finally(() => this.inFlight.delete(idem)).catch(() => undefined);
    }
    return run;
  }

  /** Resolves when every command answered so far is durable (reads wait for this). */
  settled(): Promise<void> {
    return this.ledger.whenDurable();
  }

  private async commit(events: Parameters<Ledger['commit']>[0], idem: string | null): Promise<Outcome> {
    const envelopes = await this.ledger.commit(events, idem);
    if (this.barrier && envelopes.length > 0) await this.barrier.awaitReplicated(envelopes);
    return { ok: true, events: envelopes, repeated: false };
  }
}
