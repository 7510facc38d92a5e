import { describe, it, expect } from 'vitest';
import { reclaimMemory } from '../index.js';

const MiB = 1024 * 1024;

describe('reclaimMemory', () => {
  it('gives back the heap pages of objects that died after reaching the old generation', () => {
    // Held long enough to be promoted, then dropped: only a full collection frees their pages, and the
    // process would otherwise keep them resident.
    let held: { id: number; name: string; pad: number[] }[] | undefined = [];
    for (let i = 0; i < 300_000; i++) held.push({ id: i, name: `object-${i}`, pad: [i, i + 1, i + 2, i + 3] });
    expect(held.length).toBe(300_000);
    held = undefined;
    const r = reclaimMemory();
    expect(r.rssBefore).toBeGreaterThan(0);
    expect(r.rssAfter).toBeGreaterThan(0);
    expect(r.rssBefore - r.rssAfter).toBeGreaterThan(16 * MiB);
  });

  it('hands back glibc memory freed by native code (malloc_trim)', () => {
    // Many small Buffers come from malloc's arenas, not from mmap; once they are collected, only a trim
    // returns the arena pages.
    let bufs: Buffer[] | undefined = [];
    for (let i = 0; i < 8192; i++) bufs.push(Buffer.alloc(4096, i & 0xff));
    bufs = undefined;
    const r = reclaimMemory();
    expect(r.rssBefore - r.rssAfter).toBeGreaterThan(16 * MiB);
  });
});
