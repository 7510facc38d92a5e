/**
 * Garbage collection, as the rest of the gateway sees it: deletions ask for a collection soon
 * (`schedule`), a client that passes `sync` waits for one (`collect`).
 */
export interface GarbageCollector {
  /** Run a collection soon; many requests in a burst coalesce into one run. */
  schedule(): void;
  /** Run a collection now (after any running one) and resolve when it is done. */
  collect(): Promise<void>;
}
