/** The pure event core: what the tracker, the admin commands and the tests import. */
export * from './domain-events.js';
export * from './commands.js';
export * from './state.js';
export * from './command-memory.js';
export * from './queries.js';
export * from './state-codec.js';
export * from './envelope.js';
export * from './hlc.js';
export * from './rejection.js';
export * from './names.js';
