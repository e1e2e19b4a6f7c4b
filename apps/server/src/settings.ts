// The server's settings, each declared once: its variable, parser, default, unit and help.
// Start-up parsing (config.ts), the cluster children's environment (server.ts), the CLI's
// `gyoza server start` flags and the README's table (scripts/settings-table.js) are all
// derived from SETTINGS. Kept free of heavy imports: the CLI loads it to build its help.
import { isIP } from 'node:net';
import { GPU_STRATEGIES, GyozaError } from '@gyoza/domain';

/** A setting that stops start-up; the message is one line naming the variable. */
export class ConfigError extends GyozaError {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`, [{ field: variable, message }]);
  }
}

export interface Setting<T> {
  /** The environment variable, `GYOZA_*`. */
  readonly variable: string;
  /** One line for the CLI's help and the README table. */
  readonly help: string;
  /** Used when neither an explicit value nor the variable gives one. */
  readonly defaultValue: T;
  /** How the default reads in help and docs, when it is not the value itself. */
  readonly defaultText?: string;
  /** The unit of a number, also the suffix of its name (`workerTimeoutSeconds`). */
  readonly unit?: 'seconds' | 'bytes';
  /** The values a choice takes (the CLI offers them, the README lists them). */
  readonly choices?: readonly string[];
  /** Offered as a `gyoza server start` flag (the option's name in kebab-case). */
  readonly flag?: boolean;
  /** Never written into a child process's environment, never shown. */
  readonly secret?: boolean;
  /** yargs' type for the flag. */
  readonly type: 'string' | 'number' | 'boolean';
  /** Checks a raw value (from the environment or a flag); throws ConfigError naming the variable. */
  parse(raw: string): T;
}

type Common<T> = Pick<Setting<T>, 'variable' | 'help' | 'defaultValue' | 'defaultText' | 'flag' | 'secret'>;

function text(spec: Common<string> & { minLength?: number }): Setting<string>;
function text(spec: Common<string | undefined> & { minLength?: number }): Setting<string | undefined>;
function text(spec: Common<string | undefined> & { minLength?: number }): Setting<string | undefined> {
  const minLength = spec.minLength ?? 1;
  return {
    ...spec,
    type: 'string',
    parse: (raw) => {
      if (raw.trim().length < minLength) {
        throw new ConfigError(
          spec.variable,
          minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters`,
        );
      }
      if (raw !== raw.trim()) throw new ConfigError(spec.variable, 'must not begin or end with whitespace');
      if (spec.secret && !/^[\x20-\x7e]+$/.test(raw)) {
        // A header carries it: anything else cannot be sent as typed.
        throw new ConfigError(spec.variable, 'must be printable ASCII characters');
      }
      return raw;
    },
  };
}

function integer(spec: Common<number> & { min: number; max: number; unit?: Setting<number>['unit'] }): Setting<number> {
  return {
    ...spec,
    type: 'number',
    parse: (raw) => {
      const n = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
        throw new ConfigError(spec.variable, `must be an integer from ${spec.min} to ${spec.max}, got '${raw}'`);
      }
      return n;
    },
  };
}

function boolean(spec: Common<boolean>): Setting<boolean> {
  return {
    ...spec,
    type: 'boolean',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
      throw new ConfigError(spec.variable, `must be true or false, got '${raw}'`);
    },
  };
}

function choice<const C extends readonly string[]>(spec: Common<C[number]> & { choices: C }): Setting<C[number]> {
  return {
    ...spec,
    type: 'string',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      const found = spec.choices.find((c) => c === v);
      if (found === undefined) {
        throw new ConfigError(spec.variable, `must be one of ${spec.choices.join(', ')}, got '${raw}'`);
      }
      return found;
    },
  };
}

/** Comma-separated CIDRs (`127.0.0.0/8,10.0.0.0/8`); empty: none. */
function networks(spec: Common<string>): Setting<string> {
  return {
    ...spec,
    type: 'string',
    parse: (raw) => {
      const list = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const cidr of list) {
        const [address, bits, extra] = cidr.split('/');
        const family = isIP(address);
        if (!family || extra !== undefined || !/^\d+$/.test(bits ?? '') || Number(bits) > (family === 6 ? 128 : 32)) {
          throw new ConfigError(spec.variable, `'${cidr}' is not a CIDR network (e.g. 127.0.0.0/8)`);
        }
      }
      return list.join(',');
    },
  };
}

/** `networks`, each narrower than everything (Express's proxy-addr refuses a /0 range). */
function proxies(spec: Common<string>): Setting<string> {
  const list = networks(spec);
  return {
    ...list,
    parse: (raw) => {
      const parsed = list.parse(raw);
      const everything = parsed.split(',').find((cidr) => cidr.endsWith('/0'));
      if (everything) {
        throw new ConfigError(spec.variable, `'${everything}' trusts every address; name the proxies' networks`);
      }
      return parsed;
    },
  };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const DEFAULT_DATABASE_URL = 'sqlite:./.gyoza/gyoza.db';

/**
 * Every server setting. Precedence: explicit value (a CLI flag, a `start()` argument) >
 * `GYOZA_*` environment > `defaultValue`. The option names carry their unit.
 */
export const SETTINGS = {
  host: text({ variable: 'GYOZA_HOST', defaultValue: '127.0.0.1', help: 'bind address', flag: true }),
  port: integer({ variable: 'GYOZA_PORT', defaultValue: 5555, min: 0, max: 65535, help: 'port', flag: true }),
  workers: integer({
    variable: 'GYOZA_WORKERS',
    defaultValue: 1,
    min: 1,
    max: 64,
    help: 'server processes (node:cluster) sharing the port and the database; on SQLite more processes spread reads but do not add write throughput',
    flag: true,
  }),
  reload: boolean({
    variable: 'GYOZA_RELOAD',
    defaultValue: false,
    help: 'restart on code changes (`node --watch`), for development',
    flag: true,
  }),
  logLevel: choice({
    variable: 'GYOZA_LOG_LEVEL',
    defaultValue: 'info',
    choices: LOG_LEVELS,
    help: 'pino JSON logs; every API request (not the dashboard files under `/ui`) has an `X-Request-Id` and a log line: at debug when answered, warn when refused (4xx), error when failed (5xx)',
    flag: true,
  }),
  apiKey: text({
    variable: 'GYOZA_API_KEY',
    defaultValue: undefined,
    defaultText: 'generated',
    minLength: 8,
    secret: true,
    help: 'otherwise made on first start and kept in the data directory (`api-key`, mode 0600)',
  }),
  databaseUrl: text({
    variable: 'GYOZA_DATABASE_URL',
    defaultValue: DEFAULT_DATABASE_URL,
    help: '`sqlite:<path>` or `mongodb://…`; the data directory is the SQLite file’s (or `./.gyoza`)',
  }),
  strategy: choice({
    variable: 'GYOZA_SCHEDULER_STRATEGY',
    defaultValue: 'best-fit',
    choices: GPU_STRATEGIES,
    help: 'how runs are placed on GPUs: `best-fit` takes those with the least free VRAM that fits, `direct` the first',
  }),
  imageLocalityWaitSeconds: integer({
    variable: 'GYOZA_IMAGE_LOCALITY_WAIT_SECONDS',
    defaultValue: 10,
    min: 0,
    max: 3600,
    unit: 'seconds',
    help: 'a worker without a run’s image leaves it this long after it became pending to an active worker that has the image and could run it; then anyone takes it (0: off)',
  }),
  workerTimeoutSeconds: integer({
    variable: 'GYOZA_WORKER_TIMEOUT_SECONDS',
    defaultValue: 60,
    min: 1,
    max: 86_400,
    unit: 'seconds',
    help: 'silence after which a worker is evicted',
  }),
  bodyLimitBytes: integer({
    variable: 'GYOZA_BODY_LIMIT_BYTES',
    defaultValue: 1 << 20,
    min: 1024,
    max: 1 << 30,
    unit: 'bytes',
    help: 'larger request bodies get 413',
  }),
  headersTimeoutSeconds: integer({
    variable: 'GYOZA_HEADERS_TIMEOUT_SECONDS',
    defaultValue: 10,
    min: 1,
    max: 3600,
    unit: 'seconds',
    help: 'a client that has not sent all its request headers by then is answered 408 and dropped',
  }),
  requestTimeoutSeconds: integer({
    variable: 'GYOZA_REQUEST_TIMEOUT_SECONDS',
    defaultValue: 30,
    min: 1,
    max: 3600,
    unit: 'seconds',
    help: 'a client that has not sent its whole request, body included, by then is answered 408 and dropped (answers, event streams and long-polls may take longer)',
  }),
  keepAliveTimeoutSeconds: integer({
    variable: 'GYOZA_KEEP_ALIVE_TIMEOUT_SECONDS',
    defaultValue: 5,
    min: 1,
    max: 3600,
    unit: 'seconds',
    help: 'an idle keep-alive connection is closed after this',
  }),
  trustProxy: proxies({
    variable: 'GYOZA_TRUST_PROXY',
    defaultValue: '',
    defaultText: 'none',
    help: 'comma-separated CIDRs of reverse proxies in front of the server; their `X-Forwarded-For` is believed, so the failed-authentication limit and request logs key on the client address they forward (without it, every client behind a proxy shares its address)',
  }),
  webhookAllowNetworks: networks({
    variable: 'GYOZA_WEBHOOK_ALLOW_NETWORKS',
    defaultValue: '',
    defaultText: 'none',
    help: 'comma-separated CIDRs (`127.0.0.0/8,10.0.0.0/8`) of loopback, private and link-local addresses webhooks may be sent to; all others of those ranges are refused, on the address resolved at send time',
  }),
  webhookTimeoutSeconds: integer({
    variable: 'GYOZA_WEBHOOK_TIMEOUT_SECONDS',
    defaultValue: 10,
    min: 1,
    max: 300,
    unit: 'seconds',
    help: 'a webhook receiver that has not answered by then has failed the attempt',
  }),
  webhookRetryBaseSeconds: integer({
    variable: 'GYOZA_WEBHOOK_RETRY_BASE_SECONDS',
    defaultValue: 5,
    min: 1,
    max: 3600,
    unit: 'seconds',
    help: 'the first retry of a failed webhook waits about this long, later ones 6, 24, 120, 360 ... times it (5 s, 30 s, 2 min, 10 min, 30 min, 1 h ... 8 h), with jitter',
  }),
  webhookMaxAttempts: integer({
    variable: 'GYOZA_WEBHOOK_MAX_ATTEMPTS',
    defaultValue: 20,
    min: 1,
    max: 1000,
    help: 'attempts after which a webhook delivery is dead (redeliver it through the API)',
  }),
  webhookMaxAgeSeconds: integer({
    variable: 'GYOZA_WEBHOOK_MAX_AGE_SECONDS',
    defaultValue: 86_400,
    min: 1,
    max: 30 * 86_400,
    unit: 'seconds',
    help: 'a webhook delivery is dead rather than retried later than this after its event',
  }),
};

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** The parsed settings: one field per entry of SETTINGS (see there for help, default, unit). */
export type ServerConfig = { [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

/** The settings `gyoza server start` takes as flags. */
export const FLAG_SETTINGS = (Object.keys(SETTINGS) as SettingName[]).filter((name) => SETTINGS[name].flag);

/** `logLevel` -> `log-level`. */
export function flagName(name: SettingName): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The default as help and docs show it. */
export function defaultText(setting: Setting<unknown>): string {
  return setting.defaultText ?? String(setting.defaultValue);
}

/** A one-line description for `--help`: what it does, its variable, its default and unit. */
export function helpText(name: SettingName): string {
  const s: Setting<unknown> = SETTINGS[name];
  const unit = s.unit ? ` ${s.unit}` : '';
  return `${s.help} (${s.variable}, default ${defaultText(s)}${unit})`;
}
