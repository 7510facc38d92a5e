import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, type Sqlite } from './open.js';

describe('openSqlite', () => {
  let dir: string;
  const open: Sqlite[] = [];
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sqlite-')); });
  afterEach(() => {
    for (const db of open.splice(0)) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const at = (migrations: string[]) => {
    const db = openSqlite(join(dir, 'nested', 'x.db'), { migrations });
    open.push(db);
    return db;
  };

  it('creates the directory and file, in WAL with exclusive locking, and applies the migrations in order', () => {
    const db = at(['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT']);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('locking_mode', { simple: true })).toBe('exclusive');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    db.prepare('INSERT INTO a (x, y) VALUES (1, ?)').run('one');
    db.close();

    // Reopened with one more step: only that step runs, and the rows are kept.
    const again = at(['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT', 'CREATE TABLE b (z TEXT)']);
    expect(again.pragma('user_version', { simple: true })).toBe(3);
    expect(again.prepare('SELECT y FROM a').pluck().all()).toEqual(['one']);
  });

  it('refuses a file from a newer build', () => {
    at(['CREATE TABLE a (x INTEGER)', 'CREATE TABLE b (x INTEGER)']).close();
    expect(() => at(['CREATE TABLE a (x INTEGER)'])).toThrow(/schema version 2, newer than this build knows \(1\)/);
  });

  it('applies all the pending steps or none', () => {
    expect(() => at(['CREATE TABLE a (x INTEGER)', 'NOT SQL'])).toThrow();
    const db = at([]);
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").all()).toEqual([]);
  });
});
