import { stringify } from 'yaml';
import type { AlertGroup, AlertRule } from '../plan/alerts';
import { GENERATED_HEADER } from './prometheus-rules';

/**
 * promtool unit tests generated from the same rules: each alert fires just after its threshold,
 * not just before, clears after the condition goes away, and the never-succeeded companion fires
 * when no success was ever pushed. Series are sampled every 5 minutes: longer intervals make
 * promtool reset `for:` timers between samples.
 */
const STEP = 300;

interface Case {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string>; exp_annotations: Record<string, string> }[];
}

function at(seconds: number): string {
  return `${seconds / 60}m`;
}

function stepsFor(seconds: number): number {
  return Math.ceil(seconds / STEP);
}

/** "v0 v1 ..." in promtool's expanding notation: segments of [value, count]. */
function series(segments: [number | '_', number][]): string {
  // promtool counts differently: "axN" expands to N+1 samples, "_xN" to N missing ones.
  return segments.map(([value, count]) => (value === '_' ? `_x${count}` : count === 1 ? `${value}` : `${value}x${count - 1}`)).join(' ');
}

/** Labels the Pushgateway keeps on a pushed series (scraped with honor_labels). */
function pushedLabels(rule: AlertRule): Record<string, string> {
  const job = rule.test.job;
  return {
    job: 'backup',
    instance: '',
    ...rule.test.selector,
    ...(job ? { engine: 'test', runner: job.runner } : {}),
  };
}

function labelText(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

function expected(rule: AlertRule, seriesLabels: Record<string, string>) {
  const labels = Object.fromEntries(Object.entries({ ...seriesLabels, ...rule.labels }).filter(([, v]) => v !== ''));
  const fill = (text: string) => text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, name: string) => labels[name] ?? '');
  return {
    exp_labels: labels,
    exp_annotations: { summary: fill(rule.annotations.summary), description: fill(rule.annotations.description), runbook_url: rule.annotations.runbook_url },
  };
}

function testFor(rule: AlertRule, group: AlertGroup) {
  const name = rule.alert;
  const labels = pushedLabels(rule);
  const forSeconds = rule.for?.totalSeconds ?? 0;
  const cases: Case[] = [];
  const input: { series: string; values: string }[] = [];
  const none = (time: number) => cases.push({ eval_time: at(time), alertname: name, exp_alerts: [] });
  const fires = (time: number, seriesLabels: Record<string, string>) => cases.push({ eval_time: at(time), alertname: name, exp_alerts: [expected(rule, seriesLabels)] });

  switch (rule.type) {
    case 'stale': {
      // The last success was at t=0; time() - 0 crosses the threshold between `before` and `after`.
      const threshold = rule.test.threshold!;
      const before = Math.floor((threshold - 1) / STEP) * STEP;
      const after = (stepsFor(threshold) + (threshold % STEP === 0 ? 1 : 0)) * STEP;
      const fresh = after + STEP;
      input.push({ series: `${rule.test.metric}${labelText(labels)}`, values: series([[0, fresh / STEP], [fresh, 3]]) });
      none(before);
      fires(after, labels);
      none(fresh + STEP);
      break;
    }
    case 'failing': {
      // Healthy for an hour, then failed runs; `for:` must elapse before it fires, a success clears it.
      const failedAt = 12 * STEP;
      const firesAt = failedAt + forSeconds;
      const recovered = firesAt + 2 * STEP;
      input.push({ series: `${rule.test.metric}${labelText(labels)}`, values: series([[1, 12], [0, (recovered - failedAt) / STEP], [1, 3]]) });
      none(failedAt - STEP);
      if (forSeconds > 0) none(firesAt - STEP);
      fires(firesAt, labels);
      none(recovered + STEP);
      break;
    }
    case 'never-succeeded': {
      // Nothing pushed at all: fires once the never-succeeded window has passed, clears at the first success.
      const firesAt = (stepsFor(forSeconds) + 1) * STEP;
      const appears = firesAt + STEP;
      input.push({ series: `${rule.test.metric}${labelText(labels)}`, values: series([['_', appears / STEP], [appears, 3]]) });
      // Other jobs of the service share this alert name (full and per-database); they did report,
      // so only the job under test may be absent.
      for (const sibling of group.rules.filter((r) => r.alert === rule.alert && r !== rule)) {
        input.push({ series: `${sibling.test.metric}${labelText(pushedLabels(sibling))}`, values: series([[0, appears / STEP + 3]]) });
      }
      none(Math.max(0, firesAt - 2 * STEP));
      fires(firesAt, rule.test.selector);
      none(appears + STEP);
      break;
    }
    case 'too-small': {
      // Large copies, then one under the ratio (a successful but empty dump), then large again.
      const large = 1_000_000;
      const small = Math.floor(large * rule.test.threshold! * 0.5);
      const status = `backup_last_run_success${labelText(labels)}`;
      input.push({ series: `${rule.test.metric}${labelText(labels)}`, values: series([[large, 12], [small, 3], [large, 3]]) });
      input.push({ series: status, values: series([[1, 18]]) });
      none(11 * STEP);
      fires(12 * STEP, labels);
      none(16 * STEP);
      break;
    }
    case 'gauge': {
      const threshold = rule.test.threshold!;
      const comparison = rule.test.comparison!;
      const bad = comparison === '<' ? threshold - 1 : comparison === '>' ? threshold + 1 : threshold;
      const good = comparison === '<' ? threshold + 1 : comparison === '>' ? threshold - 1 : threshold + 1;
      const firesAt = 12 * STEP + forSeconds;
      const recovered = firesAt + 2 * STEP;
      input.push({ series: `${rule.test.metric}${labelText(labels)}`, values: series([[good, 12], [bad, (recovered - 12 * STEP) / STEP], [good, 3]]) });
      none(11 * STEP);
      if (forSeconds > 0) none(firesAt - STEP);
      fires(firesAt, labels);
      none(recovered + STEP);
      break;
    }
  }
  return { name: `${name} ${labelText(rule.test.selector)}`, interval: '5m', input_series: input, alert_rule_test: cases };
}

export function promtoolTests(group: AlertGroup) {
  return group.rules.map((rule) => testFor(rule, group));
}

/** Test files: rules are evaluated every 5 minutes, the finest step the series have. */
export function renderPromtoolTestFile(groups: AlertGroup[], rulesFile: string): string {
  return GENERATED_HEADER + stringify({ rule_files: [rulesFile], evaluation_interval: '5m', tests: groups.flatMap(promtoolTests) }, { lineWidth: 0 });
}
