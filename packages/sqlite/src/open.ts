import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Sqlite = Database.Database;

export interface OpenOptions {
  /**
   * Schema steps, applied in order inside one transaction and recorded in `user_version`. Never edit a
   * step that has shipped: add one.
   */
  readonly migrations: readonly string[];
}

/**
 * Open (creating it and its directory if needed) a SQLite file that only this process uses, the way every
 * Flotilla store does:
 *
 * - `locking_mode = EXCLUSIVE`, set before WAL so the WAL index lives in memory: the file lock is taken
 *   once instead of per statement (a read costs a tenth as much), and a second process started on the same
 *   root fails instead of writing beside the first.
 * - WAL with `synchronous = NORMAL`: better-sqlite3 is synchronous, so FULL's fsync per commit would stall
 *   every call the process serves. A crash of the process loses no commit; what a power loss may take is
 *   each caller's to bound (the gateway syncs the WAL before answering; see its durability.ts).
 * - foreign keys on; a 5 s busy timeout.
 * - migrations from `user_version` on; a file from a newer build (a higher version than there are steps)
 *   is refused rather than misread.
 */
export function openSqlite(path: string, opts: OpenOptions): Sqlite {
  mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
  const db = new Database(path);
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const current = db.pragma('user_version', { simple: true }) as number;
    const { migrations } = opts;
    if (current > migrations.length) {
      throw new Error(`${path} has schema version ${current}, newer than this build knows (${migrations.length})`);
    }
    db.transaction(() => {
      for (let v = current; v < migrations.length; v++) {
        db.exec(migrations[v]!);
        db.pragma(`user_version = ${v + 1}`);
      }
    })();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
