import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import {
  DEFAULT_CONFIG_PATH,
  loadConfig,
  renderDefaultConfig,
  renderEffectiveConfig,
  renderMigratedConfig,
} from '@flotilla/config';
import { describeReport, writeNewFiles } from './config-report.js';

export const configUsage = `  flotilla config default
  flotilla config dump [--config FILE]
  flotilla config migrate [--config FILE] [--hosts-dir DIR]`;

/** Thrown for a command line the config command cannot read; main prints the usage. */
export class ConfigUsageError extends Error {}

const report = (lines: readonly string[]) => {
  for (const l of lines) process.stderr.write(`${l}\n`);
};

/**
 * `flotilla config default|dump|migrate`, as containerd's `config` command:
 * - default: the complete default configuration, every section Flotilla reads, commented;
 * - dump: the configuration the daemon would run with (files migrated and merged, every default filled in);
 * - migrate: the version 3 form of an older file, defaults left out, on stdout; the hosts.toml files its
 *   registry mirrors become are written to `<config dir>/certs.d` (or --hosts-dir), which the printed
 *   config's `config_path` names. What moved, what was dropped and why goes to stderr.
 */
export async function configCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'default': {
      parseArgs({ args: rest, options: {}, strict: true });
      process.stdout.write(renderDefaultConfig());
      return;
    }
    case 'dump': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, strict: true });
      const loaded = await loadConfig(values.config);
      report(describeReport(loaded).filter((l) => !l.startsWith('moved ') && !l.startsWith('dropped ')));
      process.stdout.write(renderEffectiveConfig(loaded));
      return;
    }
    case 'migrate': {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, 'hosts-dir': { type: 'string' } },
        strict: true,
      });
      const file = resolve(values.config ?? DEFAULT_CONFIG_PATH);
      const hostsDir = resolve(values['hosts-dir'] ?? join(dirname(file), 'certs.d'));
      const loaded = await loadConfig(file, { hostsDir });
      await writeNewFiles(loaded.report.files);
      report(describeReport(loaded));
      process.stdout.write(renderMigratedConfig(loaded));
      return;
    }
    default:
      throw new ConfigUsageError(sub === undefined ? 'config needs a subcommand' : `unknown config subcommand ${JSON.stringify(sub)}`);
  }
}
