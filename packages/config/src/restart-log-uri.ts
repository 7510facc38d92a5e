import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '@flotilla/errdefs';

/** Where a restart-managed container's output goes: a URI (`file:///var/log/c.log`, `binary:///bin/logger?x=y`). */
export const RESTART_LOG_URI_LABEL = 'containerd.io/restart.loguri';
/** The label containerd 2.0 removed: a plain file path. */
export const RESTART_LOG_PATH_LABEL = 'containerd.io/restart.logpath';

export interface RestartLogUri {
  readonly uri: string;
  /** Read from the removed restart.logpath label: the caller reports `io.containerd.deprecation/restart-logpath`. */
  readonly fromLogPath: boolean;
}

/**
 * The log URI a container's restart labels ask for, or undefined if they ask for none. `restart.loguri`
 * wins, as it did in containerd 1.x; a `restart.logpath` alone is read as the file URI of that path (1.x
 * logged to the file either way), which must then be absolute since no working directory gives it meaning.
 */
export function restartLogUri(labels: Readonly<Record<string, string>>): RestartLogUri | undefined {
  const uri = labels[RESTART_LOG_URI_LABEL];
  if (uri !== undefined && uri !== '') return { uri, fromLogPath: false };
  const path = labels[RESTART_LOG_PATH_LABEL];
  if (path === undefined || path === '') return undefined;
  if (!isAbsolute(path)) throw new InvalidArgumentError(`label ${RESTART_LOG_PATH_LABEL}=${JSON.stringify(path)}: expected an absolute path`);
  return { uri: pathToFileURL(path).href, fromLogPath: true };
}
