import { z } from 'zod';
import type { Duration } from '../values/duration';
import { durationSchema, show } from '../schema/fields';
import type { EnvVar } from './engine';

/**
 * Which databases of a server the dump engines (PostgreSQL, MySQL) leave out on purpose, and how
 * long the copies of a dropped database stay. Shared by the two engine modules that dump one
 * database at a time.
 */
export const databaseSelectionFields = {
  excludeDatabases: z
    .array(
      // Any name the server allows (spaces, quotes, "=", non-ASCII): it reaches the job as one line
      // of an environment variable, never as a shell word.
      z.string().min(1).max(64).regex(/^[^\u0000-\u001f\u007f]+$/, { error: (iss) => `not a database name, received ${show(iss.input)}, allowed: 1-64 characters, no control characters` }),
    )
    .min(1)
    .optional()
    .meta({ description: 'Databases left out on purpose (e.g. one with ALLOW_CONNECTIONS false). Any other database the job cannot dump fails the run. @default none' }),
  keepDroppedFor: durationSchema
    .optional()
    .meta({ description: 'How long the copies of a database dropped from the server stay after its newest copy; each run logs a dropped database and pushes backup_dropped_databases. @default kept for ever' }),
};

export function databaseSelectionEnv(service: { databases?: string[]; excludeDatabases?: string[]; keepDroppedFor?: Duration }): EnvVar[] {
  return [
    ...(service.databases ? [{ name: 'BACKUP_DATABASES', value: service.databases.join(' ') }] : []),
    ...(service.excludeDatabases ? [{ name: 'BACKUP_EXCLUDE_DATABASES', value: service.excludeDatabases.join('\n') }] : []),
    ...(service.keepDroppedFor ? [{ name: 'BACKUP_DROPPED_KEEP_SECONDS', value: String(service.keepDroppedFor.totalSeconds) }] : []),
  ];
}
