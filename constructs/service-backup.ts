import { Construct } from 'constructs';
import { CronJobV1 } from '@cdktf/provider-kubernetes/lib/cron-job-v1';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { PersistentVolumeV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-v1';
import { PersistentVolumeClaimV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-claim-v1';
import type { PlannedService } from '../policy/plan/plan';
import {
  renderCronJob,
  renderPersistentVolume,
  renderPersistentVolumeClaim,
  renderScriptConfigMap,
} from '../policy/render/kubernetes';
import { readScript } from '../policy/io/scripts';

/**
 * Everything one service needs, from its plan: the NFS backup volume (PV + PVC), the script
 * ConfigMap and its CronJobs. Removing the service from the policy removes all of them; the
 * NFS data itself stays (reclaim policy Retain).
 */
export class ServiceBackup extends Construct {
  readonly plan: PlannedService;
  readonly cronJobs: CronJobV1[];
  readonly scripts: ConfigMapV1;
  readonly volume: PersistentVolumeV1;
  readonly claim: PersistentVolumeClaimV1;

  constructor(scope: Construct, id: string, plan: PlannedService) {
    super(scope, id);
    this.plan = plan;
    this.volume = new PersistentVolumeV1(this, 'volume', renderPersistentVolume(plan));
    this.claim = new PersistentVolumeClaimV1(this, 'claim', {
      ...renderPersistentVolumeClaim(plan),
      // A claim on a pre-bound NFS volume binds at once; waiting would only hide errors behind a timeout.
      waitUntilBound: false,
      dependsOn: [this.volume],
    });
    this.scripts = new ConfigMapV1(this, 'scripts', renderScriptConfigMap(plan, readScript));
    this.cronJobs = [...plan.jobs, ...plan.drills].map(
      (job) => new CronJobV1(this, job.kind, { ...renderCronJob(job), dependsOn: [this.claim, this.scripts] }),
    );
  }
}
