import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policySchema } from '../../policy/parse/policy-schema';
import { planPolicy } from '../../policy/plan/plan';
import { renderDocs } from '../../policy/render/docs/index';
import { synthPolicy } from '../../stacks/synth';
import { run } from '../../cli/main';
import { homelabPolicy } from '../../stacks/homelab-policy';

/** The declaration is parsed once per run: every consumer takes the plan, nothing parses again. */
describe('one parse', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bp-one-parse-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a synth parses the policy schema exactly once', () => {
    const parse = jest.spyOn(policySchema, 'safeParse');
    synthPolicy({ policy: homelabPolicy, outDir: join(dir, 'out') });
    expect(parse).toHaveBeenCalledTimes(1);
  });

  test('a generate parses the policy schema exactly once', () => {
    const parse = jest.spyOn(policySchema, 'safeParse');
    const lines: string[] = [];
    expect(run(['generate', '--dir', dir], (l) => lines.push(l), (l) => lines.push(l))).toBe(0);
    expect(parse).toHaveBeenCalledTimes(1);
    expect(readFileSync(join(dir, 'docs/schedule.md'), 'utf8')).toContain('# Schedule timeline');
  });

  test('the spy counts (the check is live)', () => {
    const parse = jest.spyOn(policySchema, 'safeParse');
    planPolicy(homelabPolicy);
    planPolicy(homelabPolicy);
    expect(parse).toHaveBeenCalledTimes(2);
  });
});

describe('each job runs in its own zone', () => {
  const inZone = (zone: string | undefined) => {
    const policy = structuredClone(homelabPolicy) as any;
    if (zone) policy.host.timeZone = zone;
    else delete policy.host.timeZone;
    return renderDocs(planPolicy(policy))['docs/schedule.md'];
  };

  test('a host zone other than the policy\'s moves the host timers in docs/schedule.md', () => {
    const london = inZone(undefined);
    const newYork = inZone('America/New_York');
    expect(newYork).not.toBe(london);
    // The daily file backup at 05:00 New York time is drawn at 10:00 in the policy's London time.
    expect(london).toMatch(/ daily-backup :05:00/);
    expect(newYork).toMatch(/ daily-backup :10:00/);
    // The cluster jobs stay where they were.
    const clusterLines = (text: string) => text.split('\n').filter((l) => /-backup :|integrity-check :/.test(l) && !/daily-backup|lvm-pvc|offsite/.test(l));
    expect(clusterLines(newYork)).toEqual(clusterLines(london));
    expect(newYork).toContain('(America/New_York)');
  });
});
