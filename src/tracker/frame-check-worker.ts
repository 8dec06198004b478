/**
 * The frame checker's thread (frame-checker.ts): parses each `events` frame it is given
 * and runs checkEnvelopeFields on every envelope, in order; answers with the first
 * problem, or none.
 */
import { parentPort } from 'node:worker_threads';
import { checkEnvelopeFields } from '../events/envelope.js';
import { parseMessage } from '../events/replication/protocol.js';
import type { CheckAnswer, CheckRequest } from './frame-checker.js';

function firstProblem(text: string): string | undefined {
  const parsed = parseMessage(text);
  if (!parsed.ok) return parsed.reason;
  if (parsed.message.t !== 'events') return `not an events frame: ${parsed.message.t}`;
  for (const e of parsed.message.events) {
    const problem = checkEnvelopeFields(e);
    if (problem !== undefined) return `origin ${e.origin} seq ${e.seq}: ${problem}`;
  }
  return undefined;
}

parentPort!.on('message', ({ id, text }: CheckRequest) => {
  parentPort!.postMessage({ id, problem: firstProblem(text) } satisfies CheckAnswer);
});
