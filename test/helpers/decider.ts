/**
 * given / when / then for the pure core:
 *
 *   given([events]).when(command).then([events])      decide accepts with exactly these
 *   given([events]).when(command).thenRejects(code)    decide refuses with this code
 *
 * The given events are folded with `evolve` at synthetic positions (origin 1, seq 1, 2, ...,
 * one millisecond apart). Every step also checks what must hold for any command: decide
 * does not touch the state, the events it accepts fold without a conflict, and a refusal
 * carries one non-empty line for the user.
 */
import { expect } from 'vitest';
import {
  decide,
  evolve,
  initialState,
  stateHash,
  type Command,
  type DomainEvent,
  type EventPosition,
  type Rejection,
  type RejectionCode,
  type State,
} from '../../src/events/index.js';

/** Wall time of the first synthetic event: 2023-11-14, in ms. */
export const BASE_MS = 1_700_000_000_000;

/** The synthetic position of the i-th event (0-based) folded by these helpers. */
export function positionOf(i: number, origin = 1): EventPosition {
  return { origin, seq: i + 1, hlc: (BASE_MS + i) * 1000 };
}

/** Folds `events` into `state` (a fresh one by default) after the events it already holds. */
export function foldAll(events: readonly DomainEvent[], state: State = initialState()): State {
  const start = state.eventCount;
  events.forEach((event, i) => evolve(state, event, positionOf(start + i)));
  return state;
}

export function expectOneLine(message: string): void {
  expect(message.trim()).not.toBe('');
  expect(message).not.toMatch(/[\r\n\u2028\u2029]/);
}

export interface When {
  /** Asserts decide accepted with exactly `expected`; returns the state after folding them. */
  then(expected: readonly DomainEvent[]): State;
  /** Asserts decide refused with `code`; returns the rejection. */
  thenRejects(code: RejectionCode): Rejection;
}

export function given(events: readonly DomainEvent[] = []): { state(): State; when(command: Command): When } {
  return {
    state: () => foldAll(events),
    when(command: Command): When {
      const state = foldAll(events);
      const hashBefore = stateHash(state);
      const decision = decide(state, command);
      expect(stateHash(state), 'decide must not change the state').toBe(hashBefore);
      return {
        then(expected) {
          expect(decision).toEqual({ ok: true, events: expected });
          const conflictsBefore = state.conflicts.length;
          foldAll(expected, state);
          expect(state.conflicts.slice(conflictsBefore), 'accepted events must fold without conflict').toEqual([]);
          return state;
        },
        thenRejects(code) {
          if (decision.ok) throw new Error(`expected ${code}, but decide accepted ${JSON.stringify(decision.events)}`);
          expect(decision.rejection.code).toBe(code);
          expectOneLine(decision.rejection.message);
          return decision.rejection;
        },
      };
    },
  };
}
