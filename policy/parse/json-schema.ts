import { z } from 'zod';
import { policySchema } from './policy-schema';

type JsonSchema = Record<string, unknown>;

/**
 * Services are told apart by `engine`. zod exports the union as a plain oneOf, so an editor
 * checked a service against all six engines and reported every branch's complaints (one typo
 * gave 37 errors). As if/then, only the branch the service's engine names applies: one typo,
 * one error; an unknown engine is one enum error.
 */
function discriminateByEngine(service: JsonSchema): JsonSchema {
  const branches = service.oneOf as JsonSchema[] | undefined;
  if (!branches) return service;
  const engineOf = (branch: JsonSchema) => ((branch.properties as Record<string, { const: string }>).engine).const;
  return {
    type: 'object',
    required: ['engine'],
    properties: { engine: { type: 'string', enum: branches.map(engineOf), description: 'Which database or store this service is; decides the other fields.' } },
    allOf: branches.map((branch) => ({ if: { properties: { engine: { const: engineOf(branch) } }, required: ['engine'] }, then: branch })),
  };
}

/** The JSON Schema editors use for YAML/JSON policies, derived from the zod schema (input side: defaults optional). */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  const services = (schema.properties as Record<string, JsonSchema>).services;
  services.additionalProperties = discriminateByEngine(services.additionalProperties as JsonSchema);
  return {
    ...schema,
    $id: 'https://backup-policy.dev/schema/backup-policy.schema.json',
    title: 'backup-policy',
    description: 'One typed backup policy: services, schedules, retention and targets.',
  };
}

export function renderPolicyJsonSchema(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
