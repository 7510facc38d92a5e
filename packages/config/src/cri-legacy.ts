import { InvalidArgumentError } from '@flotilla/errdefs';
import { deletePath, formatKey, getPath, isTable, isZero, leaves, sameValue, type Table } from './table.js';
import { CRI_RUNTIME } from './cri-sections.js';
import { DeprecationId } from './deprecations.js';
import type { ReportWriter } from './migration-report.js';

/** Runtime types whose options are runc's (the ones `systemd_cgroup` governed). */
const runcTypes = ['io.containerd.runc.v2', 'io.containerd.runc.v1', 'io.containerd.runtime.v1.linux'];

/** Keys containerd 2.0 removed without a replacement: kept when set (and reported), dropped when unset. */
const removedKeys: readonly (readonly string[])[] = [['disable_cgroup'], ['containerd', 'no_pivot']];

const at = (...k: string[]) => ['plugins', CRI_RUNTIME, ...k];

function optionsOf(runtime: Table, name: string): Table {
  const o = runtime['options'];
  if (o === undefined) return (runtime['options'] = {});
  if (!isTable(o)) throw new InvalidArgumentError(`${formatKey(at('containerd', 'runtimes', name, 'options'))}: expected a table`);
  return o;
}

/**
 * The CRI runtime properties containerd 2.0 removed, rewritten the way containerd 1.x applied them:
 * - `untrusted_workload_runtime` becomes the `untrusted` runtime; `default_runtime` becomes the `default`
 *   runtime and `default_runtime_name` (1.x ignored either without a `runtime_type`, and so does this);
 * - a runtime's `runtime_engine` and `runtime_root` become its runc options `BinaryName` and `Root`;
 * - `systemd_cgroup = true` becomes `SystemdCgroup` on every runtime whose options are runc's, unless the
 *   runtime sets that option itself.
 * A runtime's type is never changed: one still naming a removed runtime is refused afterwards, with the
 * migrated options ready for io.containerd.runc.v2.
 */
export function migrateLegacyCriRuntime(doc: Table, r: ReportWriter): void {
  const plugins = doc['plugins'];
  const section = isTable(plugins) ? plugins[CRI_RUNTIME] : undefined;
  if (!isTable(section)) return;
  const containerd = isTable(section['containerd']) ? section['containerd'] : undefined;
  const runtimesOf = (c: Table): Table => {
    const rts = c['runtimes'];
    if (rts === undefined) return (c['runtimes'] = {});
    if (!isTable(rts)) throw new InvalidArgumentError(`${formatKey(at('containerd', 'runtimes'))}: expected a table`);
    return rts;
  };

  const legacyRuntime = (key: string, name: string, id: DeprecationId, select: boolean) => {
    const v = containerd?.[key];
    if (containerd === undefined || v === undefined) return;
    delete containerd[key];
    if (!isTable(v) || typeof v['runtime_type'] !== 'string' || v['runtime_type'] === '') {
      if (isZero(v)) {
        r.drop(at('containerd', key), 'unset (no runtime_type), which containerd 1.x ignored');
        return;
      }
      for (const [path, value] of leaves(isTable(v) ? v : { value: v })) {
        if (isZero(value)) continue;
        r.drop(at('containerd', key, ...path), 'no runtime_type, so containerd 1.x never used it');
        r.warn({ kind: 'migration', key: at('containerd', key, ...path), message: 'dropped: its runtime has no runtime_type, so containerd 1.x never used it' });
      }
      return;
    }
    const runtimes = runtimesOf(containerd);
    if (runtimes[name] !== undefined && !sameValue(runtimes[name], v)) {
      throw new InvalidArgumentError(
        `conflicting definitions: ${formatKey(at('containerd', key))} and ${formatKey(at('containerd', 'runtimes', name))} both define the ${JSON.stringify(name)} runtime; keep the latter`,
      );
    }
    runtimes[name] = v;
    r.move(at('containerd', key), at('containerd', 'runtimes', name));
    r.deprecate(id, at('containerd', key));
    if (select) {
      const previous = containerd['default_runtime_name'];
      containerd['default_runtime_name'] = name;
      r.move(at('containerd', key), at('containerd', 'default_runtime_name'),
        typeof previous === 'string' && previous !== '' && previous !== name ? `replaces ${JSON.stringify(previous)}, as containerd 1.x did` : undefined);
    }
  };
  legacyRuntime('untrusted_workload_runtime', 'untrusted', DeprecationId.CRIUntrustedWorkloadRuntime, false);
  legacyRuntime('default_runtime', 'default', DeprecationId.CRIDefaultRuntime, true);

  const runtimes = containerd !== undefined && isTable(containerd['runtimes']) ? containerd['runtimes'] : {};
  for (const [name, rt] of Object.entries(runtimes)) {
    if (!isTable(rt)) continue;
    const legacy: [string, string, DeprecationId][] = [
      ['runtime_engine', 'BinaryName', DeprecationId.CRIRuntimeEngine],
      ['runtime_root', 'Root', DeprecationId.CRIRuntimeRoot],
    ];
    for (const [key, option, id] of legacy) {
      const v = rt[key];
      if (v === undefined) continue;
      delete rt[key];
      const from = at('containerd', 'runtimes', name, key);
      if (isZero(v)) {
        r.drop(from, 'unset');
        continue;
      }
      const options = optionsOf(rt, name);
      if (!isZero(options[option]) && !sameValue(options[option], v)) {
        throw new InvalidArgumentError(`conflicting settings: ${formatKey(from)} = ${JSON.stringify(v)} and options.${option} = ${JSON.stringify(options[option])}; keep the option`);
      }
      options[option] = v;
      r.move(from, at('containerd', 'runtimes', name, 'options', option));
      r.deprecate(id, from);
    }
    if (isTable(rt['options']) && !isZero(rt['options']['CriuPath'])) {
      r.deprecate(DeprecationId.CRICRIUPath, at('containerd', 'runtimes', name, 'options', 'CriuPath'));
    }
  }

  if (section['systemd_cgroup'] !== undefined) {
    const v = section['systemd_cgroup'];
    delete section['systemd_cgroup'];
    if (v !== true) {
      r.drop(at('systemd_cgroup'), 'false, which is runc\'s default');
    } else {
      const runc = Object.entries(runtimes).filter(([, rt]) => isTable(rt) && runcTypes.includes(rt['runtime_type'] as string));
      if (runc.length === 0) {
        r.drop(at('systemd_cgroup'), 'no runtime with runc options to apply it to');
        r.warn({ kind: 'migration', key: at('systemd_cgroup'), message: 'dropped: no runtime has runc options (io.containerd.runc.v2) to take SystemdCgroup' });
      }
      for (const [name, rt] of runc) {
        const options = optionsOf(rt as Table, name);
        if (options['SystemdCgroup'] !== undefined && options['SystemdCgroup'] !== true) {
          r.warn({
            kind: 'migration',
            key: at('containerd', 'runtimes', name, 'options', 'SystemdCgroup'),
            message: 'this runtime sets SystemdCgroup itself, which wins over systemd_cgroup = true',
          });
          continue;
        }
        options['SystemdCgroup'] = true;
        r.move(at('systemd_cgroup'), at('containerd', 'runtimes', name, 'options', 'SystemdCgroup'));
      }
      r.deprecate(DeprecationId.CRISystemdCgroupV1, at('systemd_cgroup'));
    }
  }

  for (const path of removedKeys) {
    const v = getPath(section, path);
    if (v === undefined) continue;
    if (isZero(v)) {
      deletePath(section, path);
      r.drop(at(...path), 'removed in containerd 2.0, and unset');
    } else {
      r.warn({ kind: 'no-effect', key: at(...path), message: 'removed in containerd 2.0 without a replacement; kept, but nothing reads it' });
    }
  }
}
