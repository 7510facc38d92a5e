/**
 * The snapshotter vocabulary, shared by every snapshotter (the local overlayfs one, remote ones reached
 * through the proxy), by the gRPC server in front of them and by the gateway's namespaced metadata. It is
 * containerd's core/snapshots model, so that a snapshot means the same thing on either side of a socket.
 *
 * A snapshot is a filesystem tree expressed as a change set on top of a parent. Chains of committed
 * snapshots are image layers; an active snapshot on top of the chain is a container's root filesystem.
 *
 * - key: the caller's identifier of an active snapshot or a view, chosen by the caller. It is the handle
 *   for mounting, committing and removing while the snapshot is in progress.
 * - name: the identifier of a committed snapshot, chosen at commit (clients use the layer's chain ID).
 *   Keys and names share one space: an active snapshot cannot be called what a committed one is.
 * - parent: the name of the committed snapshot a snapshot builds on; '' builds on an empty tree. Only a
 *   committed snapshot can be a parent, because only it is guaranteed never to change under its children.
 * - active: writable; created by `prepare`, turned into a committed snapshot by `commit`.
 * - view: read-only access to a parent's tree, created by `view`; it can be mounted and removed, never
 *   committed. Snapshotters may serve it more cheaply than an active snapshot (no upper layer).
 * - committed: immutable, created only by `commit`; the only kind that can be a parent.
 * - mounts: what it takes to see a snapshot's tree; the snapshotter describes them and the caller performs
 *   them (see mount.ts), so that the snapshotter needs no access to where they end up.
 * - labels: string pairs on a snapshot. `containerd.io/gc.ref.*` and `containerd.io/gc.root` labels steer
 *   garbage collection in the metadata layer; a snapshotter stores them and otherwise ignores them.
 *
 * Kinds never change into one another except active → committed through `commit`, which consumes the key.
 */

export type Kind = 'view' | 'active' | 'committed';

export interface Info {
  readonly kind: Kind;
  /** The key of an active snapshot or view, or the name of a committed one. */
  readonly name: string;
  /** The parent's name; '' when the snapshot builds on an empty tree. */
  readonly parent: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly created: Date;
  readonly updated: Date;
}

/**
 * What `update` reads: the snapshot's name and the fields the field paths select (only labels are
 * mutable). An Info is one; the other fields are accepted so that a caller can pass back what `stat` gave.
 */
export type InfoUpdate = Pick<Info, 'name'> & Partial<Omit<Info, 'name'>>;

/**
 * The disk a snapshot takes by itself, its parents excluded: bytes allocated (not apparent sizes) and
 * distinct inodes, each counted once however many names it has.
 */
export interface Usage {
  readonly size: number;
  readonly inodes: number;
}

/** One mount(8)-like step; containerd.types.Mount. */
export interface Mount {
  /** Filesystem type: 'bind', 'overlay', ... */
  readonly type: string;
  /** A path, a device or a name the type understands ('overlay' for overlay). */
  readonly source: string;
  /** Where under the caller's target this mount goes; '' for the target itself. */
  readonly target: string;
  /** fstab-style options: flags ('ro', 'rbind', ...) and filesystem data ('lowerdir=...'). */
  readonly options: readonly string[];
}

export interface SnapshotOptions {
  /** Labels of the new snapshot (replacing, at commit, those of the active snapshot). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface CommitOptions extends SnapshotOptions {
  /**
   * Commit onto this parent instead of the active snapshot's own (containerd's rebase, which only
   * snapshotters advertising the `rebase` capability accept). Omitted or equal to the active snapshot's
   * parent, it changes nothing.
   */
  readonly parent?: string;
}

/** Called once per snapshot by `walk`; a rejection stops the walk and becomes its result. */
export type WalkFunc = (info: Info) => void | Promise<void>;

/**
 * containerd's snapshots.Snapshotter. Errors are @flotilla/errdefs classes: NotFound for an unknown key,
 * name or parent; AlreadyExists for a key or name in use; FailedPrecondition for an operation the
 * snapshot's kind or children forbid; InvalidArgument for malformed input.
 */
export interface Snapshotter {
  /**
   * The info of a snapshot of any kind, by key or name. The cheap way to resolve a parent, test
   * existence or learn a kind.
   */
  stat(key: string): Promise<Info>;

  /**
   * Change the mutable part of a snapshot, its labels. With no field paths every label is replaced by
   * info.labels; `labels` does the same; `labels.<key>` sets that one label (an absent or empty value
   * removes it). Any other path is InvalidArgument. An empty label value is never stored.
   */
  update(info: InfoUpdate, fieldpaths?: readonly string[]): Promise<Info>;

  /**
   * The disk the snapshot uses, excluding its parents. For an active snapshot this walks its change set
   * now (cost grows with its size); a committed one reports what was measured when it was committed.
   */
  usage(key: string): Promise<Usage>;

  /**
   * The mounts of an active snapshot or a view again, as prepare or view returned them (a process that
   * restarted, or another one, can mount it). FailedPrecondition for a committed snapshot.
   */
  mounts(key: string): Promise<Mount[]>;

  /**
   * Create an active snapshot `key` on top of committed `parent` ('' for an empty tree) and return its
   * mounts: once mounted they show the parent's tree and capture every change made through them.
   * NotFound for an unknown parent, InvalidArgument for a parent that is not committed, AlreadyExists for
   * a key in use.
   */
  prepare(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;

  /** Like prepare, but the snapshot is a view: its mounts are read-only and it can never be committed. */
  view(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;

  /**
   * Turn active snapshot `key` into committed snapshot `name`, with the active snapshot's parent and the
   * given labels (not the active snapshot's). The key is gone afterwards. The caller unmounts first: the
   * snapshot must not change once committed. AlreadyExists when `name` is taken, FailedPrecondition when
   * `key` is not active.
   */
  commit(name: string, key: string, opts?: CommitOptions): Promise<void>;

  /**
   * Drop a snapshot of any kind; its key or name is free again at once. A snapshot that still has
   * children cannot go (FailedPrecondition): remove them first. A snapshotter with a `cleanup` may leave
   * reclaiming the disk to it.
   */
  remove(key: string): Promise<void>;

  /**
   * Call `fn` for every snapshot matching any of the filters (containerd's filter syntax over `kind`,
   * `name`, `parent` and `labels.<key>`), all of them when none is given. The snapshots are those that
   * existed when the walk began; `fn` may call the snapshotter.
   */
  walk(fn: WalkFunc, ...filters: string[]): Promise<void>;

  /**
   * Reclaim the disk of removed snapshots (and of anything else under the snapshotter's root that no
   * snapshot owns). Optional, as containerd's Cleaner: remove can then return before the slow part.
   */
  cleanup?(): Promise<void>;

  /** Release the snapshotter's resources. Closing twice is not an error. */
  close(): Promise<void>;
}
