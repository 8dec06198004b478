/**
 * CommandMemory: the fold's keys of applied commands, oldest first, forgotten from the
 * front, and the same after an encode/decode (CommandMemory.of) as before.
 */
import { describe, expect, test } from 'vitest';
import { CommandMemory } from '../../src/events/index.js';

/** Keys k0..k(n-1), key i applied at ms i by origin 1 + i % 2 as seq i + 1. */
function filled(n: number): CommandMemory {
  const memory = new CommandMemory();
  for (let i = 0; i < n; i++) memory.remember(`k${i}`, 1 + (i % 2), i + 1, i);
  return memory;
}

describe('CommandMemory', () => {
  test('given keys, when asked, then each names the event that carried it, and an unknown key nothing', () => {
    const memory = filled(3);
    expect(memory.get('k1')).toEqual({ origin: 2, seq: 2, at: 1 });
    expect(memory.get('nope')).toBeUndefined();
    expect(memory.size).toBe(3);
  });

  test('given 5,000 keys, when those applied at or before ms 2,999 are forgotten (the queue is compacted), then the rest stay, in order', () => {
    const memory = filled(5000);
    memory.forgetUpTo(2999);
    expect(memory.size).toBe(2000);
    expect(memory.get('k2999')).toBeUndefined();
    expect(memory.get('k3000')).toEqual({ origin: 1, seq: 3001, at: 3000 });
    memory.remember('late', 2, 9999, 6000);
    memory.forgetUpTo(3500);
    expect([...memory.keys()].slice(0, 2)).toEqual(['k3501', 'k3502']);
    expect([...memory.keys()].at(-1)).toBe('late');
    expect(memory.get('late')).toEqual({ origin: 2, seq: 9999, at: 6000 });
    expect(memory.size).toBe(1500);
  });

  test('given a memory, when rebuilt from its entries, then it holds and forgets the same', () => {
    const memory = filled(3000);
    memory.forgetUpTo(1500);
    const copy = CommandMemory.of(memory.entries());
    expect([...copy.entries()]).toEqual([...memory.entries()]);
    for (const m of [memory, copy]) m.forgetUpTo(2000);
    expect([...copy.keys()]).toEqual([...memory.keys()]);
    expect(copy.get('k2001')).toEqual(memory.get('k2001'));
  });
});
