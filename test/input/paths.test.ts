import { planPolicy } from '../../policy/plan/plan';
import { homelabPolicy } from '../../stacks/homelab-policy';

/**
 * Issue 14, point 2: path guards compared strings, so `/srv/nfs//postgresql-backup` passed the "one
 * directory per service" check (and MySQL's retention deleted PostgreSQL's dumps) and
 * `/Backup/Viki//nfs` passed the offsite overlap check (and a full sync deleted the other tree's
 * copy). Paths are normalized at the parse and compared by containment.
 */
function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy) as any;
  edit(copy);
  return copy;
}

test('another spelling of a service\'s backup directory is the same directory', () => {
  for (const spelling of ['/srv/nfs//postgresql-backup', '/srv/nfs/./postgresql-backup', '/srv/nfs/postgresql-backup/', '/srv//nfs/postgresql-backup/.']) {
    expect(() => planPolicy(homelabWith((p) => (p.services.mysql.nfsPath = spelling)))).toThrow(/services\.postgresql\.nfsPath: backup directory already used by service "mysql", received "\/srv\/nfs\/postgresql-backup" and "\/srv\/nfs\/postgresql-backup"/);
  }
});

test('a backup directory inside another service\'s is refused too (the outer retention walks it)', () => {
  expect(() => planPolicy(homelabWith((p) => (p.services.mysql.nfsPath = '/srv/nfs/postgresql-backup/mysql')))).toThrow(/services\.postgresql\.nfsPath: backup directory overlaps the one used by service "mysql", received "\/srv\/nfs\/postgresql-backup" and "\/srv\/nfs\/postgresql-backup\/mysql"/);
});

test('offsite targets that are one folder spelled twice overlap', () => {
  expect(() => planPolicy(homelabWith((p) => (p.host.offsite.sources[1].target = '/Backup/Viki//nfs')))).toThrow(/host\.offsite\.sources\[1\]\.target: NAS targets overlap, received "\/Backup\/Viki\/nfs"/);
  expect(() => planPolicy(homelabWith((p) => (p.host.offsite.backupDiskTarget = '/Backup/Viki/nfs/')))).toThrow(/NAS targets overlap/);
});

test('a ".." segment is refused, and the normalized spelling is what is rendered', () => {
  expect(() => planPolicy(homelabWith((p) => (p.services.mysql.nfsPath = '/srv/nfs/../etc')))).toThrow(/services\.mysql\.nfsPath: path has a "\.\." segment, received "\/srv\/nfs\/\.\.\/etc"/);
  const plan = planPolicy(homelabWith((p) => (p.services.mysql.nfsPath = '/srv//nfs/./mysql-db/')));
  expect(plan.services.find((s) => s.id === 'mysql')!.volume.path).toBe('/srv/nfs/mysql-db');
});
