/**
 * The configuration loader every app uses (docs/architecture.md, "Embedded default and
 * production mode"): an app declares its settings once, as a TypeBox object schema whose keys
 * are environment variable names, and {@link loadConfig} reads, converts, defaults and validates
 * them. The same schemas render the README's configuration table ({@link describeConfig}).
 *
 * Sources, later wins: the file named by `CONFIG_FILE` (dotenv lines, `NAME=value`, as systemd's
 * `EnvironmentFile=` reads them), then the process environment. A setting may also be given as
 * `<NAME>_FILE`, the path of a file holding the value (Docker/systemd credentials style), which
 * keeps secrets out of `/proc/<pid>/environ` of anyone who can read it.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { Kind, Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** What a setting's schema may carry besides TypeBox's keywords. */
export interface SettingOptions {
  /** One sentence for the README table and error lines: what the setting is, with its unit. */
  readonly description: string;
  /** The value shown in the README's Default column when the default is computed (e.g. "`<hostname>-<pid>`"). */
  readonly defaultText?: string;
  /** A secret: never echoed in an error line (`got <hidden>`). */
  readonly secret?: boolean;
}

/** A configuration error: `message` is the one line an operator reads. */
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The environment to read; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Reads the settings `schema` declares from `CONFIG_FILE`, `<NAME>_FILE` files and the
 * environment; converts strings to the declared types (integers, numbers, booleans `true`/
 * `false`/`1`/`0`, comma-separated lists for arrays), fills in defaults, and validates.
 * Empty values count as unset.
 * @returns the settings, typed by the schema.
 * @throws ConfigError naming the first invalid or missing variable, what was expected and what
 *   was given (secrets hidden), e.g. `API_PORT must be an integer from 1 to 65535 (the API's
 *   TCP port); got "abc"`; also when `CONFIG_FILE` or a `<NAME>_FILE` cannot be read.
 */
export function loadConfig<T extends TObject>(schema: T, opts: LoadConfigOptions = {}): Static<T> {
  const env = opts.env ?? process.env;
  const fromFile = readConfigFile(env);
  const raw: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(schema.properties) as [string, TSchema][]) {
    const text = settingText(name, env, fromFile);
    if (text === undefined) continue;
    raw[name] = convert(setting, text);
  }
  const withDefaults = Value.Default(schema, raw) as Record<string, unknown>;
  for (const [name, setting] of Object.entries(schema.properties) as [string, TSchema][]) {
    const value = withDefaults[name];
    const required = (schema.required ?? []).includes(name);
    if (value === undefined) {
      if (required) throw new ConfigError(name, `${name} is required: ${expected(setting)}`);
      continue;
    }
    if (!Value.Check(setting, value) || !checkExtra(setting, value)) {
      const given = setting.secret ? '<hidden>' : JSON.stringify(raw[name] === undefined ? value : textOf(raw[name]));
      throw new ConfigError(name, `${name} must be ${expected(setting)}; got ${given}`);
    }
  }
  return withDefaults as Static<T>;
}

/**
 * Runs a setting's own parser (a key ring, a secret's encoding) and turns what it throws into a
 * {@link ConfigError} naming the variable (the parser's message is kept; it is prefixed with
 * the name unless it already starts with it). Never echoes the value.
 */
export function parseSetting<T>(name: string, value: string, parse: (text: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    const message = (err as Error).message;
    throw new ConfigError(name, message.startsWith(name) ? message : `${name}: ${message}`);
  }
}

/**
 * Runs a cross-field rule implemented elsewhere (e.g. `storageConfigFromEnv`) whose errors name
 * the variable at the start of their message (`S3_BUCKET is required when …`), and turns them
 * into {@link ConfigError}s for that variable (`fallbackName` when the message names none).
 */
export function checkSettings<T>(fallbackName: string, rule: () => T): T {
  try {
    return rule();
  } catch (err) {
    const message = (err as Error).message;
    throw new ConfigError(/^([A-Z][A-Z0-9_]+)\b/.exec(message)?.[1] ?? fallbackName, message);
  }
}

/**
 * {@link loadConfig} for a process's entry point: on a ConfigError prints one line,
 * `<app>: configuration: <message>`, to stderr and exits with status 78 (EX_CONFIG, which
 * systemd's `RestartPreventExitStatus=78` keeps from restarting in a loop).
 */
export function loadConfigOrExit<T extends TObject>(app: string, schema: T, opts?: LoadConfigOptions): Static<T>;
/** …and then `derive` (the app's own parsing and cross-field rules, which may throw ConfigError). */
export function loadConfigOrExit<T extends TObject, R>(app: string, schema: T, opts: LoadConfigOptions, derive: (c: Static<T>) => R): R;
export function loadConfigOrExit<T extends TObject, R>(app: string, schema: T, opts: LoadConfigOptions = {}, derive?: (c: Static<T>) => R): R | Static<T> {
  try {
    const config = loadConfig(schema, opts);
    return derive ? derive(config) : config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${app}: configuration: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

/** Exit status of a process stopped by invalid configuration (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** One row of the README's configuration table. */
export interface SettingDescription {
  readonly name: string;
  readonly required: boolean;
  /** Markdown text of the default, or '' when there is none. */
  readonly defaultText: string;
  /** What a valid value is, e.g. "an integer from 1 to 65535". */
  readonly expected: string;
  readonly description: string;
  readonly secret: boolean;
}

/** The settings of `schema` in declaration order, for documentation (`infra/dev/bin/config-docs.ts`). */
export function describeConfig(schema: TObject): SettingDescription[] {
  return (Object.entries(schema.properties) as [string, TSchema][]).map(([name, s]) => ({
    name,
    required: (schema.required ?? []).includes(name) && s.default === undefined,
    defaultText: s.defaultText ?? (s.default === undefined ? '' : `\`${Array.isArray(s.default) ? s.default.join(',') : String(s.default)}\``),
    expected: kindText(s),
    description: String(s.description ?? ''),
    secret: s.secret === true,
  }));
}

// --- setting builders: TypeBox schemas with the metadata above -----------------------------

/** A TCP port, 0 meaning "any free port" when `allowZero`. */
export function Port(description: string, defaultPort?: number, allowZero = false) {
  return Type.Integer({ minimum: allowZero ? 0 : 1, maximum: 65_535, description, ...(defaultPort === undefined ? {} : { default: defaultPort }) });
}

/** An interface address to bind (IPv4, IPv6 or a host name). */
export function Host(description: string, defaultHost = '127.0.0.1') {
  return Type.String({ minLength: 1, description, default: defaultHost, valueKind: 'host' });
}

/** A URL with one of `protocols` (without the colon), e.g. `['nats', 'tls']`. */
export function Url(description: string, protocols: readonly string[], extra: Partial<SettingOptions> & { default?: string } = {}) {
  return Type.String({ description, valueKind: 'url', protocols, ...extra });
}

/** A comma-separated list of strings (each trimmed, empty items dropped). */
export function List(description: string, extra: { default?: string[]; itemPattern?: string; itemText?: string } = {}) {
  const item = extra.itemPattern ? Type.String({ pattern: extra.itemPattern }) : Type.String({ minLength: 1 });
  return Type.Array(item, { description, ...(extra.default ? { default: extra.default } : {}), ...(extra.itemText ? { itemText: extra.itemText } : {}) });
}

/** A secret string (hidden in errors), at least `minLength` characters. */
export function Secret(description: string, minLength = 1) {
  return Type.String({ description, minLength, secret: true });
}

/** A path to a readable file (checked at load: a missing file is a configuration error). */
export function FilePath(description: string) {
  return Type.String({ description, minLength: 1, valueKind: 'file' });
}

/** `LOG_LEVEL`: pino's levels. */
export const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
  description: 'Log level of the structured (pino) JSON log on stdout.', default: 'info',
});

// --- internals -------------------------------------------------------------------------------

function readConfigFile(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = env.CONFIG_FILE?.trim();
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_FILE', `CONFIG_FILE names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${file}`);
  }
  return parseEnv(text) as Record<string, string>;
}

function settingText(name: string, env: NodeJS.ProcessEnv, fromFile: Record<string, string>): string | undefined {
  const direct = env[name] ?? fromFile[name];
  if (direct !== undefined && direct.trim() !== '') return direct.trim();
  const path = (env[`${name}_FILE`] ?? fromFile[`${name}_FILE`])?.trim();
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${name}_FILE`, `${name}_FILE names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${path}`);
  }
}

function isKind(s: TSchema, kind: string): boolean {
  return s[Kind] === kind;
}

function convert(s: TSchema, text: string): unknown {
  if (isKind(s, 'Array')) return text.split(',').map((t) => t.trim()).filter(Boolean);
  if (isKind(s, 'Integer') || isKind(s, 'Number')) return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? Number(text) : text;
  if (isKind(s, 'Boolean')) return ({ true: true, '1': true, yes: true, false: false, '0': false, no: false } as Record<string, boolean>)[text.toLowerCase()] ?? text;
  if (isKind(s, 'Union')) {
    const members = (s.anyOf ?? []) as TSchema[];
    if (members.some((m) => isKind(m, 'Integer') || isKind(m, 'Number'))) {
      const n = convert(Type.Number(), text);
      if (typeof n === 'number' && members.some((m) => Value.Check(m, n))) return n;
    }
  }
  return text;
}

function textOf(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** "an integer from 1 to 65535 (the API's TCP port)": the kind of value, then the description. */
function expected(s: TSchema): string {
  const what = kindText(s);
  const desc = String(s.description ?? '').replace(/\.$/, '');
  return desc ? `${what} (${desc.charAt(0).toLowerCase()}${desc.slice(1)})` : what;
}

function kindText(s: TSchema): string {
  if (isKind(s, 'Integer') || isKind(s, 'Number')) {
    const noun = isKind(s, 'Integer') ? 'an integer' : 'a number';
    if (s.minimum !== undefined && s.maximum !== undefined) return `${noun} from ${s.minimum} to ${s.maximum}`;
    if (s.exclusiveMinimum !== undefined) return `${noun} greater than ${s.exclusiveMinimum}`;
    if (s.minimum !== undefined) return `${noun} of at least ${s.minimum}`;
    return noun;
  }
  if (isKind(s, 'Boolean')) return '`true` or `false`';
  if (isKind(s, 'Array')) return s.itemText ? `a comma-separated list of ${s.itemText}` : 'a comma-separated list';
  if (isKind(s, 'Union')) {
    const members = (s.anyOf ?? []) as TSchema[];
    if (members.every((m) => isKind(m, 'Literal'))) return `one of ${members.map((m) => String(m.const)).join(', ')}`;
    return members.map(kindText).join(' or ');
  }
  if (isKind(s, 'Literal')) return `\`${String(s.const)}\``;
  if (isKind(s, 'String')) {
    if (s.valueKind === 'url') return `a URL (${(s.protocols as string[]).map((p: string) => `${p}://`).join(', ')}…)`;
    if (s.valueKind === 'host') return 'a host name or IP address';
    if (s.valueKind === 'file') return 'the path of a readable file';
    if (s.secret) return s.minLength > 1 ? `a secret of at least ${s.minLength} characters` : 'a secret';
    if (s.pattern) return s.patternText ?? `text matching /${s.pattern}/`;
    return 'text';
  }
  return 'a value';
}

/**
 * The checks TypeBox has no keyword for: `valueKind` `url` (parses, with one of `protocols`),
 * `host` (no scheme, port or path), `file` (exists and is readable now).
 */
function checkExtra(s: TSchema, value: unknown): boolean {
  if (typeof value !== 'string') return true;
  if (s.valueKind === 'url') {
    // A comma-separated list of URLs is one value for cluster clients (NATS_URL).
    return value.split(',').every((item) => {
      try {
        return (s.protocols as string[]).includes(new URL(item.trim()).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    });
  }
  if (s.valueKind === 'host') return /^[A-Za-z0-9.:_-]+$/.test(value) && !value.includes('://');
  if (s.valueKind === 'file') {
    try {
      accessSync(value, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  }
  return true;
}
