/**
 * Pushgateway helpers for asserting what one job run reported. Every group starts from a known
 * state: the previous run's success timestamp is a sentinel, so that after a failed run the test can
 * tell "no new success timestamp" (sentinel still there, which also proves the push was a POST and
 * not a PUT) from "never pushed anything".
 */
import type { Pushgateway, Sample } from '../support/servers';

/** A success timestamp no real run can produce (2001-09-09). */
export const SENTINEL_SUCCESS_TS = 1_000_000_000;

function groupUrl(pgw: Pushgateway, service: string, kind: string): string {
  return `${pgw.url}/metrics/job/backup/service/${service}/kind/${kind}`;
}

/** Empties the group, then records an old success as a previous good run would have. */
export async function seedGroup(pgw: Pushgateway, service: string, kind: string, engine: string): Promise<void> {
  const del = await fetch(groupUrl(pgw, service, kind), { method: 'DELETE' });
  if (!del.ok) throw new Error(`DELETE group: HTTP ${del.status}`);
  const labels = `engine="${engine}",runner="cronjob"`;
  const body =
    `# TYPE backup_last_success_timestamp_seconds gauge\nbackup_last_success_timestamp_seconds{${labels}} ${SENTINEL_SUCCESS_TS}\n` +
    `# TYPE backup_last_run_success gauge\nbackup_last_run_success{${labels}} 1\n`;
  const put = await fetch(groupUrl(pgw, service, kind), { method: 'POST', body, headers: { 'Content-Type': 'text/plain; version=0.0.4' } });
  if (!put.ok) throw new Error(`seed group: HTTP ${put.status} ${await put.text()}`);
}

/** The group's samples by name, as plain numbers. */
export async function groupValues(pgw: Pushgateway, service: string, kind: string): Promise<Record<string, number>> {
  const g: Map<string, Sample> = await pgw.group(service, kind);
  return Object.fromEntries([...g.entries()].map(([k, s]) => [k, s.value]));
}
