import { policyJsonSchema } from '../../policy/parse/json-schema';
import { durationSchema, dnsLabel, imageSchema, scheduleSchema } from '../../policy/schema/fields';
import { parsePolicy } from '../../policy/parse/parse';
import { PolicyValidationError } from '../../policy/values/errors';
import { maximalPolicy } from './maximal-policy';

/**
 * The editor JSON Schema and the CLI judge the same text. Patterns are a necessary condition
 * (the editor never refuses what the CLI takes) and catch the usual mistakes; bounds the pattern
 * cannot express (100 years, cron ranges) stay with the CLI.
 */
const schema = policyJsonSchema() as any;
const service = schema.properties.services.additionalProperties;
const branch = (engine: string) => service.allOf.find((b: any) => b.if.properties.engine.const === engine).then;
const pattern = (field: any) => new RegExp(field.pattern, 'u');

const fields = {
  duration: { json: branch('redis').properties.retention.properties.keepWithin, cli: durationSchema },
  schedule: { json: branch('redis').properties.schedule, cli: scheduleSchema },
  image: { json: branch('redis').properties.image, cli: imageSchema },
  'service id': { json: schema.properties.services.propertyNames, cli: dnsLabel('service id', schema.properties.services.propertyNames.maxLength) },
};

const samples: Record<keyof typeof fields, { good: string[]; bad: string[]; cliOnly?: string[] }> = {
  duration: { good: ['14d', '36h', '90s', '1w2d', '1d12h', ' 30m '], bad: ['', '2 weeks', '14 d', '-1d', '1.5h', '14D', 'd', '${x}'], cliOnly: ['0s', `${'9'.repeat(400)}d`, '5300w'] },
  schedule: {
    good: ['daily', 'Daily at 00:15', 'weekly on sunday at 02:30', 'WEEKLY Sunday', 'every 6h', 'every 30 minutes', '@midnight', '0 3 * * *', '*/15 0-6 1,15 jan-mar mon-fri'],
    bad: ['daily at 24:00', 'weekly on sun', 'every day', '0 3 * *', '0 0 * * 5#3', '0 0 ? * *', '${x}', 'nightly', 'constructor', '__proto__', 'toString'],
    cliOnly: ['0 0 L * *', '99 3 * * *', 'every 25h', '0 0 * * MONW'],
  },
  image: {
    good: ['registry.example/tools:1.2.3', 'postgres:15', `busybox@sha256:${'a'.repeat(64)}`],
    bad: ['postgres', 'postgres:latest', 'Registry/x:1', 'x:1 ', '${x}:1'],
  },
  'service id': { good: ['postgresql', 'immich-db', 'a1'], bad: ['Postgres', 'immich_db', '-a', 'a-', `${'a'.repeat(37)}`, '__proto__'] },
};

describe.each(Object.keys(fields) as (keyof typeof fields)[])('%s', (name) => {
  const { json, cli } = fields[name];
  const { good, bad, cliOnly = [] } = samples[name];

  test('carries a pattern', () => {
    expect(typeof json.pattern).toBe('string');
  });

  test.each(good)('both accept %j', (text) => {
    expect({ editor: pattern(json).test(text), cli: cli.safeParse(text).success }).toEqual({ editor: true, cli: true });
  });

  test.each(bad)('both refuse %j', (text) => {
    const editor = pattern(json).test(text) && (json.maxLength === undefined || text.length <= json.maxLength);
    expect({ editor, cli: cli.safeParse(text).success }).toEqual({ editor: false, cli: false });
  });

  // Past what a pattern can say: the CLI refuses, the editor lets it through (never the reverse).
  test.each(cliOnly.length > 0 ? cliOnly : ['(none)'])('only the CLI refuses %j', (text) => {
    if (text === '(none)') return expect(cliOnly).toEqual([]);
    expect({ editor: pattern(json).test(text), cli: cli.safeParse(text).success }).toEqual({ editor: true, cli: false });
  });
});

describe('services are discriminated by engine', () => {
  test('an unknown engine is one enum error, each engine one if/then branch', () => {
    expect(service.required).toEqual(['engine']);
    expect(service.properties.engine.enum).toEqual(['postgres', 'mysql', 'etcd', 'vault', 'redis', 'sqlite']);
    expect(service.oneOf).toBeUndefined();
    expect(service.anyOf).toBeUndefined();
    for (const b of service.allOf) {
      expect(b.if.required).toEqual(['engine']);
      expect(b.then.additionalProperties).toBe(false);
      expect(b.then.properties.engine.const).toBe(b.if.properties.engine.const);
    }
  });
});

/** Every number field of the schema, with its bounds. */
function numberFields(): { path: string; field: any }[] {
  const found: { path: string; field: any }[] = [];
  const deref = (s: any) => {
    while (s?.$ref) s = schema.$defs[s.$ref.replace('#/$defs/', '')];
    return s;
  };
  const walk = (raw: any, path: string) => {
    const s = deref(raw);
    if (!s) return;
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const o of s[k] ?? []) walk(o, path);
    if (s.then) walk(s.then, path);
    if (s.type === 'number' || s.type === 'integer') found.push({ path, field: s });
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, path ? `${path}.${k}` : k);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}.*`);
    if (s.items) walk(s.items, `${path}[]`);
  };
  walk(schema, '');
  return found;
}

describe('numbers', () => {
  test('every number field is bounded on both sides, within what bash arithmetic and Kubernetes take', () => {
    const fieldsFound = numberFields();
    expect(fieldsFound.length).toBeGreaterThan(5);
    for (const { path, field } of fieldsFound) {
      expect({ path, min: typeof field.minimum, max: typeof field.maximum }).toEqual({ path, min: 'number', max: 'number' });
      // bash and a Kubernetes int32: far below 2^31.
      expect({ path, fits: field.maximum <= 2147483647 && field.minimum >= 0 }).toEqual({ path, fits: true });
    }
  });

  /** Sets a value at a dotted path of the maximal policy, the service being any that has the field. */
  function refuses(path: string[], value: number): boolean {
    const policy = maximalPolicy() as any;
    let node = policy;
    for (const key of path.slice(0, -1)) node = node[key];
    node[path[path.length - 1]] = value;
    try {
      parsePolicy(policy);
      return false;
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyValidationError);
      return true;
    }
  }

  // Values that would render in exponent form, overflow or mean nothing to a consumer.
  test.each([
    [['services', 'pg', 'minSizeRatio'], 0.0000001],
    [['services', 'pg', 'minSizeRatio'], 1.5],
    [['host', 'snapshots', 'minFreePercent'], 0.0000001],
    [['host', 'fileBackup', 'diskFullPercent'], 1e21],
    [['host', 'fileBackup', 'diskFullPercent'], 12.345],
    [['services', 'pg', 'retention', 'keepLast'], 1e21],
    [['services', 'pg', 'retention', 'keepLast'], Number.NaN],
    [['services', 'pg', 'runAsUser'], 2 ** 31],
    [['services', 'pg', 'connection', 'port'], 70000],
    [['host', 'fileBackup', 'weeklyGenerations'], Number.POSITIVE_INFINITY],
  ])('%j = %d is refused', (path, value) => {
    expect(refuses(path as string[], value as number)).toBe(true);
  });

  test.each([
    [['host', 'snapshots', 'minFreePercent'], 12.5],
    [['services', 'pg', 'minSizeRatio'], 0.0001],
  ])('%j = %d is accepted', (path, value) => {
    expect(refuses(path as string[], value as number)).toBe(false);
  });
});
