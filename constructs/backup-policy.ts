import { Construct } from 'constructs';
import {
  parsePolicy,
  parseService,
  planService,
  serviceIssues,
  type BackupPlan,
  type PlannedService,
  type PolicySettings,
} from '../policy/plan';
import { PolicyValidationError } from '../policy/errors';
import type { BackupPolicyInput, ServiceInput } from '../policy/schema';
import { ServiceBackup } from './service-backup';
import { BackupAlerts } from './backup-alerts';
import { planAllAlerts } from '../policy/alerts';

export interface BackupPolicyProps {
  /** The declaration, typed (`defineBackupPolicy`) or loaded from YAML/JSON; parsed here once. */
  readonly policy: BackupPolicyInput;
}

/**
 * The policy as a construct. Every service in the declaration becomes a ServiceBackup; more can
 * be added with `addService` (or an engine construct such as `new PostgresBackup(policy, ...)`),
 * each one complete: volume, scripts, CronJobs.
 */
export class BackupPolicy extends Construct {
  readonly settings: PolicySettings;
  private readonly services = new Map<string, ServiceBackup>();

  constructor(scope: Construct, id: string, props: BackupPolicyProps) {
    super(scope, id);
    const { services, ...settings } = parsePolicy(props.policy);
    this.settings = settings;
    for (const serviceId of Object.keys(services).sort()) {
      this.services.set(serviceId, new ServiceBackup(this, serviceId, planService(settings, serviceId, services[serviceId])));
    }
    new BackupAlerts(this, 'alerts', { settings: settings.alerts, groups: () => planAllAlerts(this.plan(), settings) });
  }

  /** Adds one service with everything it needs. Throws with `services.<id>.…` paths when invalid. */
  addService(id: string, options: ServiceInput): ServiceBackup {
    const plan = this.planNewService(id, options);
    const service = new ServiceBackup(this, id, plan);
    this.services.set(id, service);
    return service;
  }

  /** Validates and plans a service that is not yet part of the policy (used by the engine constructs). */
  planNewService(id: string, options: ServiceInput): PlannedService {
    if (this.services.has(id)) {
      throw new PolicyValidationError([`services.${id}: duplicate service id, received "${id}" a second time, allowed: ids not yet in the policy (${[...this.services.keys()].join(', ')})`]);
    }
    const declaration = parseService(id, options);
    const issues = serviceIssues(this.settings, id, declaration);
    const plan = planService(this.settings, id, declaration);
    for (const other of this.services.values()) {
      if (other.plan.volume.path === plan.volume.path) {
        issues.push(`services.${id}.nfsPath: backup directory already used by service "${other.plan.id}", received "${plan.volume.path}", allowed: a directory no other service writes (retention would delete the other's copies)`);
      }
    }
    if (issues.length > 0) throw new PolicyValidationError(issues);
    return plan;
  }

  /** Registers a ServiceBackup created by an engine construct under this policy. */
  register(service: ServiceBackup): void {
    this.services.set(service.plan.id, service);
  }

  /** The plan of every service, sorted by id: the input of alerts, docs and reviews. */
  plan(): BackupPlan {
    return {
      timeZone: this.settings.timeZone,
      pushgatewayUrl: this.settings.pushgateway.url,
      services: [...this.services.keys()].sort().map((id) => this.services.get(id)!.plan),
    };
  }

}
