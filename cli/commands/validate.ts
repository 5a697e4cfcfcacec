import { planPolicy, type PlannedService } from '../../policy/plan/plan';
import { UsageError, loadPolicy, withPolicySource, type Command } from '../args';

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function describeService(service: PlannedService): string {
  const jobs = service.jobs.map((job) => `${job.kind} ${lowerFirst(job.schedule.toHuman())}`).join('; ');
  const retention = service.jobs.find((j) => j.retention)?.retention?.toHuman() ?? 'none';
  return `${service.id.padEnd(20)} ${service.engine.padEnd(9)} ${service.namespace.padEnd(14)} ${jobs}; keep ${retention}`;
}

/** validate FILE: one line per service, or every issue with its place in the file. */
export const validate: Command = (args, { out }) => {
  const unknown = args.find((a) => a.startsWith('-'));
  if (unknown) throw new UsageError(`unknown option ${unknown}`);
  if (args.length !== 1) throw new UsageError('validate takes exactly one policy file');
  const plan = withPolicySource(loadPolicy(args[0]), planPolicy);
  for (const service of plan.services) out(describeService(service));
  out(`valid: ${plan.services.length} services, ${plan.services.reduce((n, s) => n + s.jobs.length, 0)} jobs, time zone ${plan.timeZone}`);
  return 0;
};
