import { z } from 'zod';
import { DRILL_LIBRARY, SCRIPT_LIBRARY, type EngineModule, type ParsedServiceBase } from './engine';
import { etcd } from './etcd';
import { mysql } from './mysql';
import { postgres } from './postgres';
import { redis } from './redis';
import { sqlite } from './sqlite';
import { vault } from './vault';

/**
 * Every engine the policy knows. Adding an engine is a module in this folder (schema, jobs, env,
 * volumes, restore steps), its job script in host-scripts/, its tests, and one entry here; the
 * plan, renderers, docs, lint and the tests that every engine must pass iterate this list.
 */
export const ENGINE_MODULES = [postgres, mysql, etcd, vault, redis, sqlite] as const;


/** The service schema: one engine module per `engine` value. */
export const serviceSchema = z.discriminatedUnion('engine', [
  postgres.schema,
  mysql.schema,
  etcd.schema,
  vault.schema,
  redis.schema,
  sqlite.schema,
]);

export type ServiceInput = z.input<typeof serviceSchema>;
export type ParsedService = z.output<typeof serviceSchema>;
export type Engine = ParsedService['engine'];
export const ENGINES = ENGINE_MODULES.map((m) => m.engine) as Engine[];

const byEngine = new Map<string, EngineModule>(ENGINE_MODULES.map((m) => [m.engine, m as unknown as EngineModule]));

/** The module of a parsed service's engine, typed for that service. */
export function engineOf<S extends ParsedServiceBase>(service: S): EngineModule<S> {
  const module = byEngine.get(service.engine);
  if (!module) throw new Error(`no engine module for "${service.engine}"`);
  return module as unknown as EngineModule<S>;
}

export function engineModule(engine: string): EngineModule {
  const module = byEngine.get(engine);
  if (!module) throw new Error(`no engine module for "${engine}"`);
  return module;
}

/**
 * Every script an engine can ship in a CronJob's ConfigMap, the shared library first: derived from
 * each engine's example (which declares every optional job), never copied into lists by hand.
 */
export function engineScripts(): string[] {
  const scripts = ENGINE_MODULES.flatMap((m) => {
    const module = m as unknown as EngineModule;
    return [
      ...module.scripts(m.schema.parse(m.example) as ParsedServiceBase),
      ...(module.restore ? [module.restore.script] : []),
      ...(module.drill ? [DRILL_LIBRARY, module.drill.script] : []),
    ];
  });
  return [SCRIPT_LIBRARY, ...new Set(scripts)];
}
