/**
 * The content store's vocabulary, shared by the local store, the gRPC server, the proxy client and the
 * gateway's namespaced store (all implement or consume ContentStore).
 *
 * - digest: `algorithm:hex` (sha256 here), the address of a blob. A blob is immutable once committed.
 * - blob: committed bytes, visible to readers only after commit verified size and digest.
 * - ref: the client's name for one write in progress (an ingest). One writer per ref at a time; a second
 *   gets Unavailable. An ingest survives process restarts and can be resumed from its offset.
 * - offset: how many bytes an ingest holds so far; total: the size the client announced (0 if unknown);
 *   expected: the digest the client announced ('' if unknown).
 * - labels: string pairs on a blob; `containerd.io/gc.ref.content.*` labels name other blobs that garbage
 *   collection must keep alive while this one lives.
 */

export interface Info {
  readonly digest: string;
  readonly size: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Status {
  readonly ref: string;
  readonly offset: number;
  readonly total: number;
  readonly expected: string;
  readonly startedAt: Date;
  readonly updatedAt: Date;
}

export interface WriterOptions {
  readonly ref: string;
  /** The size the client will write, when known (0 = unknown). */
  readonly total?: number;
  /** The digest the client will write, when known ('' = unknown). */
  readonly expected?: string;
}

export interface CommitOptions {
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Bytes to write: one buffer, or pieces written in order as if they were one. A Write request's data comes
 * as the pieces it arrived in from the socket (see write-request-decoder.ts), so a relay passes it on
 * without assembling it (write-data.ts has the helpers).
 */
export type WriteData = Uint8Array | readonly Uint8Array[];

/**
 * One open ingest. Writes append at the current offset. `close` releases the ref without committing: the
 * ingest stays for a later writer to resume; `commit` makes it a blob and removes the ingest.
 */
export interface Writer {
  readonly ref: string;
  status(): Promise<Status>;
  /** The digest of the bytes written so far. */
  digest(): string;
  write(data: WriteData): Promise<void>;
  /** Drop bytes after `size` (resume from an earlier point; containerd clients use 0). */
  truncate(size: number): Promise<void>;
  /**
   * Verify and publish: `size` (if > 0) and `expected` (if set) must match what was written
   * (FailedPrecondition otherwise, and nothing is published); AlreadyExists when the blob was there.
   */
  commit(size: number, expected: string, opts?: CommitOptions): Promise<void>;
  close(): Promise<void>;
}

export interface ReadOptions {
  readonly offset?: number;
  /** Bytes to read from offset; 0 or absent = to the end. */
  readonly size?: number;
}

export interface ContentStore {
  info(digest: string): Promise<Info>;
  /**
   * Change labels. With no fieldpaths every label is replaced; with `labels` likewise; with
   * `labels.<key>` only that key is set (or removed when absent from info.labels). Other paths are
   * InvalidArgument.
   */
  update(info: { readonly digest: string; readonly labels: Readonly<Record<string, string>> }, fieldpaths?: readonly string[]): Promise<Info>;
  /** Every blob matching any of the filters (containerd's syntax; fields digest, size, labels.*). */
  list(filters?: readonly string[]): AsyncIterable<Info>;
  delete(digest: string): Promise<void>;
  /** Stream a blob's bytes in chunks; NotFound for an unknown digest, OutOfRange past the end. */
  read(digest: string, opts?: ReadOptions): AsyncIterable<Uint8Array>;
  status(ref: string): Promise<Status>;
  /** Ingests matching any of the filters (field ref). */
  listStatuses(filters?: readonly string[]): Promise<Status[]>;
  abort(ref: string): Promise<void>;
  /** Open (or resume) the ingest named by ref. */
  writer(opts: WriterOptions): Promise<Writer>;
}
