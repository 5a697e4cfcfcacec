import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitUntil } from '../support/servers';

/** A real Prometheus on loopback that scrapes a Pushgateway and evaluates a rules file. */
export interface Prometheus {
  url: string;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  rules(): Promise<{ name: string; health: string; lastError?: string }[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(pushgatewayUrl: string, rulesText: string): Promise<Prometheus> {
  const dir = fs.mkdtempSync('/tmp/bp-prom-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'rules.yaml'), rulesText);
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [path.join(dir, 'rules.yaml')],
      // honor_labels keeps the pushed job/service/kind labels, as kube-prometheus-stack's
      // Pushgateway ServiceMonitor does.
      scrape_configs: [{ job_name: 'pushgateway', honor_labels: true, static_configs: [{ targets: [new URL(pushgatewayUrl).host] }] }],
    }),
  );
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
  const child = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    fs.closeSync(log);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)), 20000, 'prometheus ready');
  } catch (error) {
    const text = fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8');
    await stop();
    throw new Error(`${(error as Error).message}\n${text.slice(-2000)}`);
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: any[] } };
      if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
      return body.data.result;
    },
    async rules() {
      const body = (await (await fetch(`${url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
      return body.data.groups.flatMap((g) => g.rules);
    },
    stop,
  };
}
