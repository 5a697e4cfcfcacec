import { z } from 'zod';
import { policySchema } from './policy-schema';

/** The JSON Schema editors use for YAML/JSON policies, derived from the zod schema (input side: defaults optional). */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }),
    $id: 'https://backup-policy.dev/schema/backup-policy.schema.json',
    title: 'backup-policy',
    description: 'One typed backup policy: services, schedules, retention and targets.',
  };
}

export function renderPolicyJsonSchema(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
