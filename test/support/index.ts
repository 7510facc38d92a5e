// Shared by cross-service tests and benchmarks: real processes with private directories.
export { run, waitFor, type ExecResult } from './exec.js';
export { startFlotilla, repoRoot, flotillaBin, type Flotilla, type StartOptions } from './flotilla.js';
export { startContainerd, type Containerd, type ContainerdOptions } from './containerd.js';
export { ensureFixtures, fixturesDir, fixtureImagesDir, busyboxArchive, REGISTRY } from './fixtures.js';
export { ctrOutcome } from './ctr-outcome.js';
