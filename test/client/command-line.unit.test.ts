// How a typed line or an --exec script is cut into commands and words: quotes keep spaces
// (and ';') inside one argument, and a quote left open is an error, never a silent swallow.
import { describe, expect, it } from 'vitest';
import { splitCommands, splitWords, UsageError } from '../../src/client/commands.js';

describe('splitWords', () => {
  it.each([
    ['upload_file "my file.bin" movies', ['upload_file', 'my file.bin', 'movies']],
    ["upload_file 'my file.bin' movies", ['upload_file', 'my file.bin', 'movies']],
    ["upload_file ./don't.txt movies", ['upload_file', "./don't.txt", 'movies']],
    ['login ann ""', ['login', 'ann', '']],
    ['  list_groups  ', ['list_groups']],
  ])('%j -> %j', (line, words) => {
    expect(splitWords(line)).toEqual(words);
  });

  it('refuses a quote that is never closed', () => {
    expect(() => splitWords('upload_file "my file.bin movies')).toThrow(UsageError);
    expect(() => splitWords('upload_file "my file.bin movies')).toThrow(/^unterminated " /);
    expect(() => splitWords("download_file g f 'here")).toThrow(/^unterminated ' /);
  });
});

describe('splitCommands', () => {
  it('cuts at ; outside quotes', () => {
    expect(splitCommands("a b; c 'd;e'")).toEqual(['a b', "c 'd;e'"]);
    expect(splitCommands('login a b;list_groups; ;')).toEqual(['login a b', 'list_groups']);
    expect(splitCommands("upload_file ./don't.txt g; list_files g")).toEqual(["upload_file ./don't.txt g", 'list_files g']);
  });

  it('refuses the whole script when a quote is never closed, instead of swallowing what follows', () => {
    const script = 'create_user kim pw; upload_file "/tmp/my file.bin movies; create_group kims; list_groups';
    expect(() => splitCommands(script)).toThrow(UsageError);
    expect(() => splitCommands(script)).toThrow(/^unterminated " in --exec/);
  });
});
