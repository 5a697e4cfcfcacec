import { Construct } from 'constructs';
import { Aspects, type SSHProvisionerConnection } from 'cdktf';
import { PolicyValidationError } from '../policy/values/errors';
import { directoryOwnerIssue, nfsPathOf, parsePolicy, parseService, serviceIssues } from '../policy/parse/parse';
import type { BackupPolicyInput, ParsedPolicy } from '../policy/parse/policy-schema';
import type { ServiceInput } from '../policy/engines/registry';
import { planParsedPolicy, type BackupPlan, type PlannedService } from '../policy/plan/plan';
import type { HostPlan } from '../policy/plan/host-plan';
import { ServiceBackup } from './service-backup';
import { BackupAlerts } from './backup-alerts';
import { HostDeployment } from './host-deployment';
import { TerraformLiteralStrings } from './terraform-boundary';

export interface BackupPolicyProps {
  /** The declaration, typed (`defineBackupPolicy`) or loaded from YAML/JSON; parsed here once. */
  readonly policy: BackupPolicyInput;
  /**
   * How Terraform reaches the Proxmox host, asked for only when the policy has a host section.
   * BackupStack builds it from Terraform variables; a policy with a host section and no connection
   * is refused, so the host's alerts never exist without the units they watch.
   * @default none: a policy with a host section fails with a `host` path
   */
  readonly hostConnection?: (host: HostPlan) => SSHProvisionerConnection;
}

/**
 * The policy as a construct: everything the declaration asks for. Every service becomes a
 * ServiceBackup (volume, scripts, CronJobs), the alert rules cover every job, and a host section
 * is deployed to the host. More services can be added with `addService` (or an engine construct
 * such as `new PostgresBackup(policy, ...)`), each one complete.
 */
export class BackupPolicy extends Construct {
  /** The host deployment; undefined for a policy without a host section. */
  readonly host?: HostDeployment;
  private parsed: ParsedPolicy;
  private current: BackupPlan;
  private readonly services = new Map<string, ServiceBackup>();

  constructor(scope: Construct, id: string, props: BackupPolicyProps) {
    super(scope, id);
    Aspects.of(this).add(new TerraformLiteralStrings());
    this.parsed = parsePolicy(props.policy);
    this.current = planParsedPolicy(this.parsed);
    if (this.current.host) {
      if (!props.hostConnection) {
        throw new PolicyValidationError([
          'host: the policy declares a host section but nothing can deploy it, received no hostConnection, allowed: a BackupPolicy with hostConnection (BackupStack builds it from Terraform variables), or a policy without a host section',
        ]);
      }
      this.host = new HostDeployment(this, 'host', { plan: this.current.host, connection: props.hostConnection(this.current.host) });
    }
    for (const service of this.current.services) this.services.set(service.id, new ServiceBackup(this, service.id, service));
    new BackupAlerts(this, 'alerts', { settings: this.current.alertSettings, groups: () => this.current.alerts });
  }

  /** Adds one service with everything it needs. Throws with `services.<id>.…` paths when invalid. */
  addService(id: string, options: ServiceInput): ServiceBackup {
    const service = new ServiceBackup(this, id, this.planNewService(id, options));
    this.services.set(id, service);
    return service;
  }

  /**
   * Validates a service that is not yet part of the policy and re-plans the policy with it (alerts
   * and protection depend on every service). Used by `addService` and the engine constructs.
   */
  planNewService(id: string, options: ServiceInput): PlannedService {
    if (this.services.has(id)) {
      throw new PolicyValidationError([`services.${id}: duplicate service id, received "${id}" a second time, allowed: ids not yet in the policy (${[...this.services.keys()].join(', ')})`]);
    }
    const service = parseService(id, options);
    const issues = serviceIssues(this.parsed, id, service);
    const owners = Object.entries(this.parsed.services).map(([other, s]) => [nfsPathOf(this.parsed, other, s), other] as const);
    const clash = directoryOwnerIssue(id, nfsPathOf(this.parsed, id, service), owners.map(([p, o]) => [p, o]));
    if (clash) issues.push(clash);
    if (issues.length > 0) throw new PolicyValidationError(issues);
    this.parsed = { ...this.parsed, services: { ...this.parsed.services, [id]: service } };
    this.current = planParsedPolicy(this.parsed);
    return this.current.services.find((s) => s.id === id)!;
  }

  /** Registers a ServiceBackup created by an engine construct under this policy. */
  register(service: ServiceBackup): void {
    this.services.set(service.plan.id, service);
  }

  /** The whole plan, services sorted by id: the input of alerts, docs and reviews. */
  plan(): BackupPlan {
    return this.current;
  }
}
