import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { adaptSnapshot, snapshotFilter } from './snapshot-filters.js';
import type { Info } from './snapshotter.js';

const at = new Date(0);
const snap = (name: string, kind: Info['kind'], parent = '', labels: Record<string, string> = {}): Info =>
  ({ name, kind, parent, labels, created: at, updated: at });

const base = snap('base', 'committed');
const child = snap('child', 'active', 'base', { 'containerd.io/gc.root': 'x', l: '' });
const view = snap('v', 'view', 'base', { 'a.b': '1' });

describe('adaptSnapshot', () => {
  it('has kind, name and parent always, even empty', () => {
    const a = adaptSnapshot(base);
    expect(a.field(['kind'])).toEqual({ value: 'committed', present: true });
    expect(a.field(['name'])).toEqual({ value: 'base', present: true });
    expect(a.field(['parent'])).toEqual({ value: '', present: true });
  });

  it('reads labels by the rest of the path, absent when missing', () => {
    const a = adaptSnapshot(view);
    expect(a.field(['labels', 'a', 'b'])).toEqual({ value: '1', present: true });
    expect(a.field(['labels', 'a.b'])).toEqual({ value: '1', present: true });
    expect(a.field(['labels', 'nope'])).toEqual({ value: '', present: false });
    expect(adaptSnapshot(base).field(['labels', 'a.b']).present).toBe(false);
  });

  it('knows no other field', () => {
    expect(adaptSnapshot(base).field(['created']).present).toBe(false);
    expect(adaptSnapshot(base).field([]).present).toBe(false);
  });
});

describe('snapshotFilter', () => {
  const names = (...filters: string[]) => [base, child, view].filter(snapshotFilter(filters).match).map((s) => s.name);

  it('passes everything without filters', () => {
    expect(names()).toEqual(['base', 'child', 'v']);
  });

  it('matches any of several filters, each an AND of its selectors', () => {
    expect(names('kind==active', 'name==v')).toEqual(['child', 'v']);
    expect(names('parent==base,kind==view')).toEqual(['v']);
  });

  it('tells a parentless snapshot by parent==""', () => {
    expect(names('parent==""')).toEqual(['base']);
    expect(names('parent!=""')).toEqual(['child', 'v']);
  });

  it('treats a label with an empty value as present', () => {
    expect(names('labels.l')).toEqual(['child']);
    expect(names('labels."containerd.io/gc.root"==x')).toEqual(['child']);
  });

  it('refuses a filter that does not parse, before matching anything', () => {
    expect(() => snapshotFilter(['name=='])).toThrow(InvalidArgumentError);
  });
});
