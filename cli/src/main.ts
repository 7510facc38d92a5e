import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createLogger, type Logger } from '@flotilla/log';
import { createDeprecationLog, loadConfig, reclaimIdleMemory, warmUpProcesses } from '@flotilla/config';
import { API_VERSION, isServiceName, serviceNames, type ServiceName } from '@flotilla/plugin';
import { configCommand, configUsage, ConfigUsageError } from './config-command.js';
import { logReport, replaceGeneratedFiles } from './config-report.js';

// The gateway and each plugin process load only their own code: every process of the cluster is a Node
// process, and what one never imports is memory the whole cluster never spends.

const usage = `usage:
  flotilla daemon [--config FILE] [--address SOCK] [--root DIR] [--state DIR] [--log-level LEVEL]
  flotilla service <${serviceNames.join('|')}> --address SOCK --root DIR [--state DIR] [--config FILE] [--log-level LEVEL] [--peer NAME=SOCK]...
${configUsage}
  flotilla --version`;

class UsageError extends Error {}

/** Stop cleanly on the signals an init system or a terminal sends; a second signal exits at once. */
function onStopSignal(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    stop().then(() => process.exit(0), (err: unknown) => { log.error({ err }, 'stop failed'); process.exit(1); });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function daemon(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      address: { type: 'string', short: 'a' },
      root: { type: 'string' },
      state: { type: 'string' },
      'log-level': { type: 'string', short: 'l' },
    },
    strict: true,
  });
  // Flags win over the file, as containerd's do. Older config versions are migrated in memory.
  const loaded = await loadConfig(values.config, {
    overrides: { address: values.address, root: values.root, state: values.state, logLevel: values['log-level'] },
  });
  const { config } = loaded;
  const log = createLogger({ service: 'gateway', level: config.debug.level });
  const deprecations = createDeprecationLog();
  logReport(loaded, log, deprecations);
  await replaceGeneratedFiles(loaded.report.files, join(config.state, 'certs.d'));
  const main = fileURLToPath(import.meta.url);
  const [{ startGateway }, { reclaimMemory }] = await Promise.all([import('@flotilla/gateway'), import('@flotilla/native')]);
  const gateway = await startGateway({
    config,
    log,
    ...(reclaimIdleMemory(config.plugins) ? { reclaimMemory } : {}),
    warmUp: warmUpProcesses(config.plugins),
    deprecations,
    revision: process.env['FLOTILLA_REVISION'] ?? 'dev',
    processCommand: (name: ServiceName) => ({
      command: process.execPath,
      args: [
        ...process.execArgv,
        // Plugin processes idle most of the time: a 1 MiB young generation (V8 grows it to 16 MiB under
        // allocation and keeps it) saves about 4 MiB per process; bulk bytes live outside the JS heap.
        '--max-semi-space-size=1',
        // One V8 helper thread instead of four: their stacks and malloc arenas cost 3-4 MiB per process,
        // and heaps of about 10 MiB give parallel GC or background compiles nothing to share out.
        '--v8-pool-size=1',
        main,
        'service',
        name,
        '--log-level',
        config.debug.level,
        ...(values.config ? ['--config', values.config] : []),
      ],
    }),
  });
  onStopSignal(log, () => gateway.close());
}

async function service(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      address: { type: 'string', short: 'a' },
      root: { type: 'string' },
      state: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string', short: 'l' },
      // Another process's socket, for plugins that call it (e.g. content=/run/flotilla/plugins/content.sock).
      peer: { type: 'string', multiple: true },
    },
    allowPositionals: true,
    strict: true,
  });
  const name = positionals[0];
  if (name === undefined || !isServiceName(name)) throw new UsageError(`unknown service ${JSON.stringify(name ?? '')}`);
  if (!values.address || !values.root) throw new UsageError('service needs --address and --root');
  const peers: Record<string, string> = {};
  for (const p of values.peer ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0 || eq === p.length - 1) throw new UsageError(`--peer wants NAME=SOCKET, not ${JSON.stringify(p)}`);
    peers[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const config = values.config ? (await loadConfig(values.config, { overrides: { state: values.state } })).config : undefined;
  const log = createLogger({ service: name, level: values['log-level'] ?? config?.debug.level ?? 'info' });
  const [{ startPluginProcess }, { serviceRegistrations }, { reclaimMemory }] = await Promise.all([
    import('@flotilla/plugin'),
    import('./services.js'),
    import('@flotilla/native'),
  ]);
  const proc = await startPluginProcess({
    name,
    registrations: await serviceRegistrations[name](),
    address: values.address,
    root: values.root,
    state: values.state ?? `/run/flotilla/${name}`,
    ...(config ? { config: config.plugins, disabled: config.disabledPlugins } : {}),
    peers,
    // Plugin processes read the gateway's config file: one setting for the whole cluster.
    ...(config === undefined || reclaimIdleMemory(config.plugins) ? { reclaimMemory } : {}),
    warmUp: config === undefined || warmUpProcesses(config.plugins),
    log,
  });
  const stop = () => proc.close();
  onStopSignal(log, stop);
  // Started by a gateway: its end of our stdin closes when it dies, however it dies.
  if (process.env['FLOTILLA_PARENT_PIPE'] === '1') {
    process.stdin.on('close', () => {
      log.warn('gateway went away; stopping');
      stop().finally(() => process.exit(0));
    });
    process.stdin.on('error', () => {});
    process.stdin.resume();
  }
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'daemon':
      return daemon(rest);
    case 'service':
      return service(rest);
    case 'config':
      return configCommand(rest);
    case '--version':
    case 'version':
      process.stdout.write(`flotilla ${API_VERSION}\n`);
      return;
    default:
      throw new UsageError(cmd === undefined ? 'missing command' : `unknown command ${JSON.stringify(cmd)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigUsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`flotilla: ${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  process.stderr.write(`flotilla: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
