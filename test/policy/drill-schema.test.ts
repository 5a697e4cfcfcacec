/**
 * The restore-drill settings refused at parse time: each issue names its path, what was received
 * and what is allowed (policy-wide `drills`, per-service `drill`).
 */
import { parsePolicy } from '../../policy/parse/parse';
import { PolicyValidationError } from '../../policy/values/errors';
import { policyWith } from '../support/policies';

function issuesOf(input: unknown): string[] {
  try {
    parsePolicy(input);
  } catch (error) {
    if (error instanceof PolicyValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the policy to be rejected');
}

const drilled = (drill: Record<string, unknown>) => (p: any) => (p.services.pg.drill = { schedule: 'daily at 04:00', ...drill });

describe('a drill is refused when', () => {
  test.each<[string, (p: any) => void, string, string[]]>([
    ['it has no schedule, here or policy-wide', (p) => (p.services.pg.drill = { queries: [] }), 'services.pg.drill', ['needs a schedule', 'received none', 'drill.schedule or drills.schedule']],
    [
      'a Redis service declares queries',
      (p) => {
        p.drills = { schedule: 'weekly on sunday at 04:00' };
        p.services.cache.drill = { queries: [{ sql: 'select 1', equals: 1 }] };
      },
      'services.cache.drill',
      ['queries are SQL checks', 'received 1 for a redis service', 'allowed: queries only for postgres, mysql, sqlite'],
    ],
    ['its deadline is not shorter than the gap between drills', drilled({ timeout: '24h' }), 'services.pg.drill', ['not shorter than the gap', 'received 1d', 'less than 1d']],
    ['a query expects nothing', drilled({ queries: [{ sql: 'select count(*) from users' }] }), 'services.pg.drill.queries[0].min', ['checks nothing', 'none of min, max, equals']],
    ['a query range is empty', drilled({ queries: [{ sql: 'select 1', min: 5, max: 2 }] }), 'services.pg.drill.queries[0].max', ['range is empty', 'min 5 and max 2', 'min <= max']],
    ['a query expects a negative number', drilled({ queries: [{ sql: 'select 1', equals: -1 }] }), 'services.pg.drill.queries[0].equals', ['below 0', 'received -1', 'a whole number 0-2147483647']],
    ['a query expects a fraction', drilled({ queries: [{ sql: 'select 1', min: 1.5 }] }), 'services.pg.drill.queries[0].min', ['not a whole number', 'received 1.5']],
    ['a query expectation is text', drilled({ queries: [{ sql: 'select 1', equals: '3' }] }), 'services.pg.drill.queries[0].equals', ['expected a number', 'received "3"']],
    ['a query is empty', drilled({ queries: [{ sql: '', equals: 1 }] }), 'services.pg.drill.queries[0].sql', ['not a query', 'received ""', '1-10000 characters']],
    ['the policy-wide schedule is not a schedule', (p) => (p.drills = { schedule: 'sometimes' }), 'drills.schedule', ['"sometimes"']],
  ])('%s', (_name, edit, path, words) => {
    const issues = issuesOf(policyWith(edit));
    const issue = issues.find((i) => i.startsWith(`${path}: `));
    expect({ issues, found: issue !== undefined }).toEqual({ issues, found: true });
    for (const word of words) expect(issue).toContain(word);
  });

  test('a service that opts out needs no schedule at all', () => {
    expect(() => parsePolicy(policyWith((p) => (p.services.pg.drill = { enabled: false })))).not.toThrow();
  });
});
