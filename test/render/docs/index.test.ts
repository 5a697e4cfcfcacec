/**
 * renderDocs: which documents exist for a plan, what each is made of, the README linking them,
 * and the offsite note each service runbook gets from its protection.
 */
import { planPolicy } from '../../../policy/plan/plan';
import { renderDocs } from '../../../policy/render/docs/index';
import { hostTimelineJobs, renderHostRunbooks } from '../../../policy/render/docs/host-runbooks';
import { renderRunbook } from '../../../policy/render/docs/runbooks';
import { renderAlertTable, renderProtectionMatrix, renderRpoRto } from '../../../policy/render/docs/tables';
import { clusterTimelineJobs, renderTimeline } from '../../../policy/render/docs/timeline';
import { pgService, policyOf, redisService, smallHost } from '../small-policies';

describe('renderDocs', () => {
  test('without a host: the four tables, one runbook per service, the README', () => {
    const plan = planPolicy(policyOf({ pg: pgService, cache: redisService }));
    const [cache, pg] = plan.services;
    expect(renderDocs(plan)).toEqual({
      'docs/protection-matrix.md': renderProtectionMatrix(plan),
      'docs/schedule.md': renderTimeline(clusterTimelineJobs(plan), 'Europe/London'),
      'docs/alerts.md': renderAlertTable(plan.alerts),
      'docs/rpo-rto.md': renderRpoRto(plan),
      'docs/runbooks/cache.md': renderRunbook(cache, 'Europe/London', 'No offsite copy is declared for these files.'),
      'docs/runbooks/pg.md': renderRunbook(pg, 'Europe/London', 'No offsite copy is declared for these files.'),
      'docs/README.md': `# Backup documentation

Generated from the backup policy. Do not edit: run \`npm run generate\`.

- [Protection matrix](protection-matrix.md): every service against every layer, with retention and RPO
- [Schedule timeline](schedule.md): a day and a week of jobs in Europe/London
- [Alerts](alerts.md): every rule, its threshold, severity and runbook
- [RPO and RTO](rpo-rto.md)
- Runbooks: [cache](runbooks/cache.md), [pg](runbooks/pg.md)
`,
    });
  });

  test('with a host: host runbooks, host timers on the schedule, runbooks sorted in the README, offsite notes', () => {
    const host = smallHost({ timeZone: 'America/New_York' });
    // pg's export lies outside the offsite source and its namespace is excluded: no offsite copy.
    const plan = planPolicy(policyOf({ pg: { ...pgService, nfsPath: '/exports/pg' }, cache: redisService }, { host }));
    const [cache, pg] = plan.services;
    const hostPages = renderHostRunbooks(plan.host!);
    expect(renderDocs(plan)).toEqual({
      'docs/protection-matrix.md': renderProtectionMatrix(plan),
      'docs/schedule.md': renderTimeline([...clusterTimelineJobs(plan), ...hostTimelineJobs(plan.host!)], 'Europe/London'),
      'docs/alerts.md': renderAlertTable(plan.alerts),
      'docs/rpo-rto.md': renderRpoRto(plan),
      'docs/runbooks/cache.md': renderRunbook(cache, 'Europe/London', 'An offsite copy follows: At 06:00 (the dumps via /srv/nfs).'),
      'docs/runbooks/pg.md': renderRunbook(pg, 'Europe/London', 'No offsite copy is declared for these files.'),
      'docs/runbooks/lvm-pvc-snapshot.md': hostPages['lvm-pvc-snapshot.md'],
      'docs/runbooks/daily-backup.md': hostPages['daily-backup.md'],
      'docs/runbooks/offsite-sync-backup.md': hostPages['offsite-sync-backup.md'],
      'docs/README.md': `# Backup documentation

Generated from the backup policy. Do not edit: run \`npm run generate\`.

- [Protection matrix](protection-matrix.md): every service against every layer, with retention and RPO
- [Schedule timeline](schedule.md): a day and a week of jobs in Europe/London
- [Alerts](alerts.md): every rule, its threshold, severity and runbook
- [RPO and RTO](rpo-rto.md)
- Runbooks: [cache](runbooks/cache.md), [daily-backup](runbooks/daily-backup.md), [lvm-pvc-snapshot](runbooks/lvm-pvc-snapshot.md), [offsite-sync-backup](runbooks/offsite-sync-backup.md), [pg](runbooks/pg.md)
`,
    });
  });

  test('a host zone other than the policy\'s changes docs/schedule.md (issue 9)', () => {
    const london = renderDocs(planPolicy(policyOf({ pg: pgService }, { host: smallHost() })))['docs/schedule.md'];
    const newYork = renderDocs(planPolicy(policyOf({ pg: pgService }, { host: smallHost({ timeZone: 'America/New_York' }) })))['docs/schedule.md'];
    const hostBars = (doc: string) => doc.split('\n').filter((l) => /^ {2}(lvm-pvc-snapshot|daily-backup|offsite-sync-backup) :\d\d:\d\d,/.test(l));
    expect([hostBars(london), hostBars(newYork)]).toEqual([
      ['  lvm-pvc-snapshot :03:00, 30m', '  daily-backup :05:00, 30m', '  offsite-sync-backup :06:00, 30m'],
      ['  lvm-pvc-snapshot :08:00, 30m', '  daily-backup :10:00, 30m', '  offsite-sync-backup :11:00, 30m'],
    ]);
  });
});
