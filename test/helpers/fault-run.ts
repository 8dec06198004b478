/**
 * What one seed of the randomized fault test (test/replication/faults.e2e.test.ts) did:
 * the test records it in its task meta, and `npm run bench -- faults` reads it back from
 * vitest's JSON report.
 */
import type {} from 'vitest'; // the augmentation below extends vitest's own TaskMeta

export interface FaultRun {
  readonly twinAck: string;
  readonly faults: number;
  readonly kills: number;
  readonly cuts: number;
  readonly acknowledged: { readonly users: number; readonly groups: number; readonly joins: number };
  readonly conflicts: number;
  readonly events: number;
}

declare module 'vitest' {
  interface TaskMeta {
    faultRun?: FaultRun;
  }
}
