/** The tests use the same local cluster launcher as the demo and the benchmarks. */
export * from '../../src/demo/local-cluster.js';
