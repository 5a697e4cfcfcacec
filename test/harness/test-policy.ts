/**
 * The policy the integration tests synthesize: the bundled homelab policy itself, with only what a
 * test machine must change (the ports of the test servers), plus a few test-only services that each
 * say below why they exist. Host names stay the cluster names of the homelab; the harness resolves
 * them to the loopback test servers.
 */
import { homelabPolicy } from '../../stacks/homelab-policy';
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import { synthStack } from '../support/synth';
import type { TestCluster } from './cronjob-harness';

export const HOST = {
  postgres: 'postgresql.dbaas.svc.cluster.local',
  mysql: 'mysql.dbaas.svc.cluster.local',
  redis: 'redis-master.redis.svc.cluster.local',
  vault: 'vault-active.vault.svc.cluster.local',
  pushgateway: 'prometheus-pushgateway.monitoring.svc.cluster.local',
  etcdPlain: 'etcd.kube-system.svc.cluster.local',
} as const;

/** An address on loopback where nothing listens: a server that is down, as its clients see it. */
export const DEAD_ADDRESS = '127.0.0.2';

/** Ports of the servers a test file started; the rest get a placeholder nothing listens on. */
export interface TestPorts {
  pushgateway: number;
  postgres?: number;
  mysql?: number;
  redis?: number;
  /** The etcd with client-certificate TLS (the homelab's kubeadm etcd). */
  etcdTls?: number;
  /** The plain-http etcd of the `etcd-plain` test service. */
  etcdPlain?: number;
  /** The fake Vault's API port (test/fakes/vault-api.ts). */
  vault?: number;
}

/** Secret values the test servers are set up with, by the homelab policy's Secret names. */
export const SECRETS = {
  postgres: 'Pg-backup-S3cret-41c9',
  mysql: 'My-backup-S3cret-9e07',
  redis: 'Redis-backup-S3cret-2b6d',
  vaultToken: 'hvs.Vault-backup-T0ken-77aa',
} as const;

const UNUSED_PORT = 9;

export function testPolicy(ports: TestPorts): BackupPolicyInput {
  const p = structuredClone(homelabPolicy) as any;
  p.pushgateway.url = `http://${HOST.pushgateway}:${ports.pushgateway}`;
  p.services.postgresql.connection.port = ports.postgres ?? UNUSED_PORT;
  p.services.mysql.connection.port = ports.mysql ?? UNUSED_PORT;
  p.services.redis.connection.port = ports.redis ?? UNUSED_PORT;
  const vault = new URL(p.services.vault.address);
  vault.port = String(ports.vault ?? UNUSED_PORT);
  p.services.vault.address = vault.origin;
  // kubeadm's etcd on the control-plane node's loopback, reached over the host network.
  p.services.etcd.endpoints = [`https://127.0.0.1:${ports.etcdTls ?? UNUSED_PORT}`];
  // An etcd reached through a Service name without TLS: the same script and image as the homelab's
  // etcd job, so the snapshot, restore and failure behaviour is proven even where the homelab's TLS
  // job cannot run (see etcd.test.ts).
  p.services['etcd-plain'] = {
    engine: 'etcd',
    namespace: 'kube-system',
    schedule: 'weekly on sunday at 01:00',
    endpoints: [`http://${HOST.etcdPlain}:${ports.etcdPlain ?? UNUSED_PORT}`],
    retention: { keepWithin: '30d', keepLast: 4 },
  };
  // The homelab's PostgreSQL with a 5 s deadline, so that the activeDeadlineSeconds path (SIGTERM
  // to a job stuck in a dump) can be exercised without waiting an hour.
  p.services['postgresql-deadline'] = { ...structuredClone(p.services.postgresql), timeout: '5s' };
  return p;
}

/** The whole test cluster for one test file: the synthesized stack, Secrets, DNS and volumes. */
export function testCluster(ports: TestPorts, claims: TestCluster['claims'], extraSecrets: TestCluster['secrets'] = {}): TestCluster {
  return {
    stack: synthStack(testPolicy(ports)),
    secrets: {
      'postgresql-backup': { password: SECRETS.postgres },
      'mysql-backup': { password: SECRETS.mysql },
      'redis-backup': { password: SECRETS.redis },
      'vault-backup-token': { token: SECRETS.vaultToken },
      ...extraSecrets,
    },
    hosts: Object.fromEntries(Object.values(HOST).map((h) => [h, '127.0.0.1'])),
    claims,
  };
}
