import { App, Lazy, Testing } from 'cdktf';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { Manifest } from '@cdktf/provider-kubernetes/lib/manifest';
import { PolicyValidationError } from '../../policy/values/errors';
import { parsePolicy } from '../../policy/parse/parse';
import { BackupStack } from '../../stacks/backup-stack';
import { samplePolicy } from '../support/policies';
import { strings, synthStack } from '../support/synth';
import { maximalPolicy, schemaStringFields, stringMutations } from './maximal-policy';
import { terraformEvaluate } from './terraform';

/**
 * Terraform evaluates `${...}` and `%{...}` in every JSON string. A policy string is either
 * refused at the parse, naming its field, or it reaches Terraform escaped and Terraform hands
 * the provider the literal text: proved for every string field of the schema, with real
 * Terraform 1.11 evaluating what was synthesized.
 */
const PAYLOAD = '${upper("pwn")}%{ if true }pwn-directive%{ endif }';

function synthesizedStrings(stack: any): string[] {
  return [...strings(stack.resource ?? {})].filter(([path]) => !path.split('.').includes('//')).map(([, text]) => text);
}

test('the maximal policy sets every string field the schema has', () => {
  const reached = new Set(stringMutations(maximalPolicy(), (t) => t).map((m) => m.field));
  const missing = [...schemaStringFields()].filter((field) => !reached.has(field));
  expect(missing).toEqual([]);
  expect(() => parsePolicy(maximalPolicy())).not.toThrow();
});

describe('every string field with ${...} and %{...} is refused with its path or reaches Terraform as literal text', () => {
  const outcomes: { field: string; outcome: string }[] = [];
  const literal: Record<string, string> = {};

  // Appended to the valid text (a prefix check cannot stop it) and replacing it outright.
  const mutations = [...stringMutations(maximalPolicy(), (t) => `${t}${PAYLOAD}`), ...stringMutations(maximalPolicy(), () => PAYLOAD)];

  test.each(mutations.map((m, i) => [m.path, m.field, i] as const))('%s', (path, field, i) => {
    const policy = maximalPolicy();
    mutations[i].apply(policy);
    let accepted = true;
    try {
      parsePolicy(policy);
    } catch (error) {
      accepted = false;
      expect(error).toBeInstanceOf(PolicyValidationError);
      const issues = (error as PolicyValidationError).issues;
      // Refused cleanly: an issue names this field (or, for a service id, the id itself).
      expect(issues.some((issue) => issue.startsWith(`${path}:`) || issue.startsWith(`${path}.`) || issue.startsWith(`${path}[`))).toBe(true);
    }
    outcomes.push({ field, outcome: accepted ? 'accepted' : 'refused' });
    if (!accepted) return;
    const carried = synthesizedStrings(synthStack(policy)).filter((text) => text.includes('pwn'));
    carried.forEach((text, n) => (literal[`f${i}_${n}`] = text));
  });

  afterAll(() => {
    const accepted = [...new Set(outcomes.filter((o) => o.outcome === 'accepted').map((o) => o.field))];
    console.log(`${outcomes.length} mutations: ${outcomes.length - outcomes.filter((o) => o.outcome === 'accepted').length} refused with their path; accepted in ${accepted.join(', ') || 'no field'}; ${Object.keys(literal).length} synthesized strings evaluated by Terraform`);
    // Whatever was accepted and reached Terraform: Terraform must give back the payload verbatim.
    const keys = Object.keys(literal);
    if (keys.length === 0) return;
    const evaluated = terraformEvaluate(literal);
    // A value that is itself JSON (a drill's DRILL_QUERIES) carries the payload JSON-escaped.
    const asJsonText = JSON.stringify(PAYLOAD).slice(1, -1);
    for (const key of keys) {
      expect({ key, carried: evaluated[key].includes(PAYLOAD) || evaluated[key].includes(asJsonText) }).toEqual({ key, carried: true });
      expect(evaluated[key]).not.toContain('PWN');
    }
  });
});

describe('the boundary covers every resource under the policy, not a list of fields', () => {
  /** A resource added to the policy's construct tree, as a future renderer would add one. */
  function stackWithExtraResources(): any {
    const app = Testing.app() as App;
    const stack = new BackupStack(app, 'boundary', { policy: samplePolicy() });
    new ConfigMapV1(stack.policy, 'extra', {
      metadata: { name: 'extra', namespace: 'x' },
      data: { plain: PAYLOAD, lazy: Lazy.stringValue({ produce: () => `lazy ${PAYLOAD}` }) },
    });
    new Manifest(stack.policy, 'manifest', {
      manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm', namespace: 'x' }, data: Lazy.anyValue({ produce: () => ({ key: `manifest ${PAYLOAD}` }) }) },
    });
    return JSON.parse(Testing.synth(stack));
  }

  test('plain, lazy and kubernetes_manifest strings come out of Terraform verbatim; references still resolve', () => {
    const stack = stackWithExtraResources();
    const extra = stack.resource.kubernetes_config_map_v1;
    const data = Object.values<any>(extra).find((m) => m.metadata.name === 'extra').data;
    const manifest = Object.values<any>(stack.resource.kubernetes_manifest).find((m) => m.manifest.metadata.name === 'm').manifest;
    const evaluated = terraformEvaluate({ plain: data.plain, lazy: data.lazy, manifest: manifest.data.key });
    expect(evaluated).toEqual({ plain: PAYLOAD, lazy: `lazy ${PAYLOAD}`, manifest: `manifest ${PAYLOAD}` });
    // cdktf's own expressions are untouched: a CronJob still depends on its claim by reference.
    const cronJob = Object.values<any>(stack.resource.kubernetes_cron_job_v1)[0];
    expect(cronJob.depends_on[0]).toMatch(/^kubernetes_persistent_volume_claim_v1\.[\w-]+$/);
  });

  test('script bytes are escaped exactly once', () => {
    const stack = synthStack(samplePolicy());
    const scripts = Object.values<any>(stack.resource.kubernetes_config_map_v1).flatMap((m) => Object.values<string>(m.data));
    // A script's "$${" would come out of a double escape as "$$${".
    expect(scripts.some((s) => s.includes('$${'))).toBe(true);
    expect(scripts.filter((s) => s.includes('$$${'))).toEqual([]);
  });
});
