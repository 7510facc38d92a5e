import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from './flotilla.js';
import { run } from './exec.js';

/** The project's shared fixtures sit beside the repository (read-only in CI). */
export const fixturesDir = resolve(repoRoot, '../shared/fixtures');
export const REGISTRY = '127.0.0.1:5000';
/** Where images.sh leaves the OCI layout and the OCI archive of fixtures/busybox. */
export const fixtureImagesDir = '/tmp/fixture-images';
export const busyboxArchive = join(fixtureImagesDir, 'busybox.tar');

async function pushed(): Promise<boolean> {
  const r = await run('curl', ['-fsS', `http://${REGISTRY}/v2/fixtures/multiarch/manifests/latest`, '-H', 'Accept: application/vnd.oci.image.index.v1+json']);
  return r.code === 0 && existsSync(busyboxArchive);
}

/**
 * Start the fixtures registry on loopback and push the test images, once per machine: later calls find
 * them there. Building them takes a minute (the large image is hundreds of MiB).
 */
export async function ensureFixtures(): Promise<void> {
  const start = await run('bash', [join(fixturesDir, 'registry.sh'), 'start']);
  if (start.code !== 0) throw new Error(`registry.sh start failed: ${start.stderr}`);
  if (await pushed()) return;
  const build = await run('bash', [join(fixturesDir, 'images.sh'), REGISTRY, fixtureImagesDir], { timeoutMs: 15 * 60_000 });
  if (build.code !== 0) throw new Error(`images.sh failed (${build.code}): ${build.stderr.slice(-2000)}`);
}
