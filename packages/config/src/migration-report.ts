import type { DeprecationId } from './deprecations.js';

/** A property migration moved (`to` set) or dropped (`to` unset, `note` says why nothing was lost). */
export interface MigrationMove {
  readonly from: readonly string[];
  readonly to?: readonly string[];
  /** Set when the property went to a generated file (`to` is then its path inside that file). */
  readonly toFile?: string;
  readonly note?: string;
  /** The file it came from. */
  readonly file?: string;
}

/** Something the operator should know about the file that does not stop the daemon. */
export interface ConfigWarning {
  readonly kind: 'unknown-key' | 'unread-section' | 'no-effect' | 'migration';
  readonly key: readonly string[];
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** The plugin section the key belongs to, for keys inside one. */
  readonly plugin?: string;
  /** Where the key was written, when migration moved it from there. */
  readonly source?: readonly string[];
}

/** A deprecated property in effect, by containerd's deprecation ID. */
export interface DeprecationNotice {
  readonly id: DeprecationId;
  readonly key: readonly string[];
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** Where the property was written, when migration moved it from there. */
  readonly source?: readonly string[];
}

/** A file the migration derives from the config (hosts.toml for registry mirrors). */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

/** What loading a config found and did, collected by each step and reported by the caller. */
export interface MigrationReport {
  readonly moves: MigrationMove[];
  readonly warnings: ConfigWarning[];
  readonly deprecations: DeprecationNotice[];
  readonly files: GeneratedFile[];
}

/** The collector the migration steps write to; `file` is the file being migrated, if any. */
export interface ReportWriter {
  readonly report: MigrationReport;
  file: string | undefined;
  move(from: readonly string[], to: readonly string[], note?: string, toFile?: string): void;
  drop(from: readonly string[], note: string): void;
  warn(w: Omit<ConfigWarning, 'file'> & { file?: string }): void;
  deprecate(id: DeprecationId, key: readonly string[]): void;
  generate(f: GeneratedFile): void;
}

export function createReport(): ReportWriter {
  const report: MigrationReport = { moves: [], warnings: [], deprecations: [], files: [] };
  const w: ReportWriter = {
    report,
    file: undefined,
    move(from, to, note, toFile) {
      report.moves.push({
        from: [...from], to: [...to], ...(toFile ? { toFile } : {}), ...(note ? { note } : {}), ...(w.file ? { file: w.file } : {}),
      });
    },
    drop(from, note) {
      report.moves.push({ from: [...from], note, ...(w.file ? { file: w.file } : {}) });
    },
    warn(x) {
      const file = x.file ?? w.file;
      report.warnings.push({ ...x, ...(file ? { file } : {}) });
    },
    deprecate(id, key) {
      report.deprecations.push({ id, key: [...key], ...(w.file ? { file: w.file } : {}) });
    },
    generate(f) {
      report.files.push(f);
    },
  };
  return w;
}
