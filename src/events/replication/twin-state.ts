/**
 * A tracker's state handed to its twin ahead of a big catch-up, as Raft hands a follower
 * far behind a snapshot (InstallSnapshot). The receiver stores the events it lacks as
 * usual, checked one by one, but takes this state as their fold instead of folding them
 * itself, once its log holds exactly the events the state is of (Ledger.expectTwinState).
 * A million events' state is about 13 MB of text, written and hashed in about 0.3 s,
 * where folding those events took the receiver's event loop several seconds.
 *
 * Here: the state as it travels (`state` frames of up to STATE_PART_CHARS each, before
 * the catch-up's events) and its assembly on arrival, which checks the text's hash part
 * by part (a million events' state at once would hold the event loop about 0.1 s more).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Envelope } from '../envelope.js';
import { textSlices } from '../text-slices.js';
import { MAX_STATE_PARTS, STATE_PART_CHARS, type StatePart, type Tip } from './protocol.js';

type Position = Pick<Envelope, 'hlc' | 'origin' | 'seq'>;

/** An origin's last event in a state: its seq and hash (the receiver's chain must hold the same). */
export interface OriginTip {
  readonly seq: number;
  readonly hash: string;
}

export interface TwinState {
  /** The state's last event in fold order: one of the tips. */
  readonly at: Position;
  /** How many events it is the fold of: every event of each origin up to its tip. */
  readonly count: number;
  readonly tips: ReadonlyMap<number, OriginTip>;
  /** The state's canonical text (snapshotText) and its SHA-256, the state hash. */
  readonly text: string;
  readonly hash: string;
}

/**
 * The `state` frames that carry a state, in order (textSlices: no cut falls inside a
 * surrogate pair, so the parts' UTF-8 is the text's, which the hash is over).
 */
export function stateParts(state: TwinState): StatePart[] {
  const texts = textSlices(state.text, STATE_PART_CHARS);
  if (texts.length > MAX_STATE_PARTS) throw new RangeError(`a state of ${state.text.length} characters takes more than ${MAX_STATE_PARTS} parts`);
  const tips: Tip[] = [...state.tips].map(([origin, tip]) => [origin, tip.seq, tip.hash]);
  const whole = { t: 'state', at: state.at, count: state.count, hash: state.hash, tips, parts: texts.length } as const;
  return texts.map((part, i) => ({ ...whole, part: i, text: part }));
}

/** Puts a state together from its frames, which arrive in order. */
export class StateAssembly {
  private first: StatePart | undefined;
  private texts: string[] = [];
  private hash: Hash | undefined;

  /** Takes the next frame: the state once its last part is in and its hash checks out, undefined before, or what is wrong. */
  add(part: StatePart): TwinState | undefined | string {
    const first = this.first ?? part;
    if (part.part !== this.texts.length) return this.fail(`state part ${part.part} came where part ${this.texts.length} was due`);
    if (!sameWhole(first, part)) return this.fail(`state part ${part.part} is of another state than part 0`);
    this.first = first;
    this.texts.push(part.text);
    (this.hash ??= createHash('sha256')).update(part.text);
    if (this.texts.length < part.parts) return undefined;
    const digest = this.hash.digest('hex');
    const text = this.texts.join('');
    this.fail('');
    if (digest !== part.hash) return 'the state\'s text does not hash to its state hash';
    return { at: part.at, count: part.count, hash: part.hash, tips: new Map(part.tips.map(([origin, seq, hash]) => [origin, { seq, hash }])), text };
  }

  /** Starts over; returns `problem`. */
  private fail(problem: string): string {
    this.first = undefined;
    this.texts = [];
    this.hash = undefined;
    return problem;
  }
}

function sameWhole(a: StatePart, b: StatePart): boolean {
  return a.hash === b.hash && a.count === b.count && a.parts === b.parts && a.at.hlc === b.at.hlc && a.at.origin === b.at.origin && a.at.seq === b.at.seq;
}
