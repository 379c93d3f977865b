/**
 * NATS commands of the operator CLI:
 * - `nats-config`: prints the nats-server `authorization` block of the platform's identities
 *   (one user per service with its permissions, bcrypt-hashed passwords; no anonymous access),
 *   for a production server's configuration (`@live/messaging` `renderNatsAuthorization`);
 * - `nats-streams`: creates or updates the JetStream streams (EVENTS, LEASES, CHAT, TELEMETRY),
 *   which the apps' own NATS users may only check (`ensureEventStreams`).
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pino from 'pino';
import {
  connectMessaging, ensureEventStreams, NATS_SERVICES, natsUsersFor, renderNatsAuthorization, servicePermissions, inboxPrefixFor,
  type NatsCredentials, type NatsService,
} from '@live/messaging';
import { endpointUrl, natsAuthFor } from './config.js';
import type { CliIo } from './io.js';

const NATS_CONFIG_HELP = `
Identities: ${NATS_SERVICES.join(', ')} (bootstrap = the admin: every subject; cli = the whole
JetStream API, for this CLI; the edge does not use NATS). Each user may receive replies on
_INBOX_<user>.> only: the apps connect with that inbox prefix (NATS_INBOX_PREFIX overrides it).

Passwords: --password <service>=<password>, else the environment variable
NATS_PASSWORD_<SERVICE> (e.g. NATS_PASSWORD_API), else a random one. The block holds bcrypt
hashes only; the passwords to give each service (NATS_USER, NATS_PASSWORD) are printed on
stderr, so that stdout can go to the server's configuration:

  pnpm cli nats-config > /etc/nats/platform-auth.conf 2> platform-nats-credentials.env
  # nats-server.conf:  include ./platform-auth.conf

--json prints the permissions (no passwords) for decentralized authentication (nsc) instead.`;

/** Parses `<service>=<value>` for the repeatable options. */
function serviceValue(flag: string) {
  return (v: string, prev: Partial<Record<NatsService, string>> = {}): Partial<Record<NatsService, string>> => {
    const i = v.indexOf('=');
    const service = v.slice(0, Math.max(0, i)) as NatsService;
    if (i < 1 || !NATS_SERVICES.includes(service) || v.length === i + 1) {
      throw new InvalidArgumentError(`${flag} takes <service>=<value> with a service of ${NATS_SERVICES.join(', ')}`);
    }
    return { ...prev, [service]: v.slice(i + 1) };
  };
}

/**
 * The credentials `nats-config` renders: for each of `services`, the user name (`users`, default
 * the service's name) and the password (`passwords`, else env `NATS_PASSWORD_<SERVICE>`, else 24
 * random bytes base64url). Returns them with the services whose password was generated.
 */
export function natsConfigCredentials(
  services: readonly NatsService[],
  users: Partial<Record<NatsService, string>>,
  passwords: Partial<Record<NatsService, string>>,
  env: Readonly<Record<string, string | undefined>>,
): { credentials: NatsCredentials; generated: NatsService[] } {
  const credentials: NatsCredentials = {};
  const generated: NatsService[] = [];
  for (const service of services) {
    let password = passwords[service] || env[`NATS_PASSWORD_${service.toUpperCase()}`];
    if (!password) {
      password = randomBytes(24).toString('base64url');
      generated.push(service);
    }
    credentials[service] = { user: users[service] ?? service, password };
  }
  return { credentials, generated };
}

/**
 * Registers `nats-config` and `nats-streams` on `program` (the CLI's commander program writing to
 * `io`). Actions throw on failure (the CLI prints one line, exit 1); bad options are usage errors
 * (exit 2).
 */
export function registerNatsCommands(program: Command, io: CliIo): void {
  program.command('nats-config')
    .description('print the nats-server authorization block (a user per service, its permissions, bcrypt-hashed passwords; anonymous clients refused)')
    .addOption(new Option('--service <service...>', 'identities to include (default: all)').choices([...NATS_SERVICES]))
    .option('--user <service=name>', 'user name of a service (default: the service\'s name); repeatable', serviceValue('--user'))
    .option('--password <service=password>', 'password of a service; repeatable (see below)', serviceValue('--password'))
    .option('--bcrypt-cost <n>', 'bcrypt cost (4..31)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 4 || n > 31) throw new InvalidArgumentError('an integer in 4..31');
      return n;
    }, 11)
    .option('--plain', 'write the passwords themselves instead of bcrypt hashes (debugging only)')
    .option('--json', 'print { users: [{ service, user, inboxPrefix, permissions }] } (no passwords) instead')
    .addHelpText('after', NATS_CONFIG_HELP)
    .action(async (o: { service?: NatsService[]; user?: Partial<Record<NatsService, string>>; password?: Partial<Record<NatsService, string>>; bcryptCost: number; plain?: boolean; json?: boolean }) => {
      const services = o.service && o.service.length > 0 ? NATS_SERVICES.filter((s) => o.service!.includes(s)) : NATS_SERVICES;
      const { credentials, generated } = natsConfigCredentials(services, o.user ?? {}, o.password ?? {}, io.env);
      const users = natsUsersFor(credentials); // validates the user names
      if (o.json) {
        io.stdout.write(`${JSON.stringify({
          users: services.map((service) => {
            const user = credentials[service]!.user;
            return { service, user, inboxPrefix: inboxPrefixFor(user), permissions: servicePermissions(service, { inboxPrefix: inboxPrefixFor(user) }) };
          }),
        }, null, 2)}\n`);
        return;
      }
      io.stdout.write(await renderNatsAuthorization(users, {
        bcryptCost: o.bcryptCost, hashPasswords: o.plain !== true,
        comment: `The live platform's NATS users (pnpm cli nats-config, ${new Date().toISOString()}).\nEach service connects with NATS_USER/NATS_PASSWORD; no default user is configured, so anonymous clients are refused.`,
      }));
      for (const service of generated) {
        const c = credentials[service]!;
        io.stderr.write(`# ${service}\nNATS_USER=${c.user}\nNATS_PASSWORD=${c.password}\n`);
      }
    });

  program.command('nats-streams')
    .description('create or update the JetStream streams (EVENTS, LEASES, CHAT, TELEMETRY); needs the cli or bootstrap identity')
    .addHelpText('after', `
The apps only check that the streams exist (their NATS users may not create, update or delete
streams): run this once when deploying, and after an upgrade that changes a stream's settings.
Environment: NATS_URL and the CLI's credentials (NATS_USER/NATS_PASSWORD, NATS_TOKEN or
NATS_CREDS; default the embedded stack's cli user from .run/stack.json). On a three-server
cluster pass --replicas 3 (or set NATS_REPLICAS=3, as for the apps).`)
    .option('--replicas <n>', 'copies kept of each stream, 1 to 5 (default NATS_REPLICAS, else 1)')
    .action(async (o: { replicas?: string }) => {
      const replicasText = o.replicas ?? io.env.NATS_REPLICAS ?? '1';
      const replicas = Number(replicasText);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new Error(`--replicas must be an integer from 1 to 5; got ${JSON.stringify(replicasText)}`);
      const url = endpointUrl('nats', io.env);
      const logger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }));
      const messaging = await connectMessaging(url, 'cli', natsAuthFor(io.env), { logger }).catch((err: unknown) => {
        throw new Error(`cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err });
      });
      try {
        const outcome = await ensureEventStreams(messaging.jsm, { logger, replicas });
        for (const [stream, what] of Object.entries(outcome)) io.stdout.write(`${stream}: ${what}\n`);
      } finally {
        await messaging.close();
      }
    });
}
