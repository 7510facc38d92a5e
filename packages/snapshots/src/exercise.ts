import type { Snapshotter } from './snapshotter.js';

/**
 * Every call an image unpack, a container start and a garbage collection make on a snapshotter, once:
 * a snapshot without parent and one on top, committed with labels; a view of two layers; mounts, stats,
 * usage of active and committed snapshots, a label update, filtered and whole walks, removal in child
 * first order and a cleanup. Keys start with `tag`, so nothing else is touched. For warm-ups: it checks
 * nothing but that each call succeeds.
 */
export async function exerciseSnapshotter(sn: Snapshotter, tag: string): Promise<void> {
  const label = `${tag}/layer`;
  const [base, top, view] = [`${tag}-base`, `${tag}-top`, `${tag}-view`];
  await sn.prepare(`${base}-active`, '', { labels: { [label]: '0' } });
  await sn.stat(`${base}-active`);
  await sn.usage(`${base}-active`);
  await sn.commit(base, `${base}-active`, { labels: { [label]: '0' } });
  await sn.prepare(`${top}-active`, base);
  await sn.mounts(`${top}-active`);
  await sn.commit(top, `${top}-active`, { labels: { [label]: '1' } });
  await sn.view(view, top);
  await sn.usage(top);
  await sn.update({ name: top, labels: { [label]: 'top' } }, [`labels.${label}`]);
  await sn.walk(() => {}, `labels."${label}"==top`);
  await sn.walk(() => {});
  for (const key of [view, top, base]) await sn.remove(key);
  await sn.cleanup?.();
}
