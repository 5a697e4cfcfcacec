import { readFileSync } from 'node:fs';
import { planPolicy } from '../../policy/plan/plan';
import { lintPlan, lintWarnings } from '../../policy/checks/lint';
import { pvcCoverage, renderCoverage } from '../../policy/checks/coverage';
import { UsageError, loadPolicy, noMoreArguments, option, options, withPolicySource, type Command } from '../args';

/** lint [--policy FILE] [--pvcs FILE] [--lvm-class NAME]... [--nfs-class NAME]... */
export const lint: Command = (args, { out, err }) => {
  const policyFile = option(args, '--policy');
  const pvcsFile = option(args, '--pvcs');
  const lvm = options(args, '--lvm-class');
  const nfs = options(args, '--nfs-class');
  noMoreArguments(args);
  const plan = withPolicySource(loadPolicy(policyFile), planPolicy);
  const pvcs = pvcsFile === undefined ? undefined : readPvcList(pvcsFile);
  const findings = lintPlan(plan);
  for (const w of lintWarnings(plan)) err(`warning: ${w.path}: ${w.message}`);
  for (const f of findings) err(`${f.path}: ${f.message}`);
  let gaps = 0;
  if (pvcs) {
    const report = pvcCoverage(plan, pvcs, { lvm: lvm.length > 0 ? lvm : ['proxmox-lvm'], nfs });
    out(renderCoverage(report).trimEnd());
    for (const row of report.rows.filter((r) => r.gap)) {
      gaps += 1;
      err(`pvcs.${row.pvc}: no layer covers this PVC and no exclusion names it; name it as a service's dataClaims, or add it to coverage.exclude with a reason`);
    }
  }
  const problems = findings.length + gaps;
  (problems > 0 ? err : out)(`${problems} finding${problems === 1 ? '' : 's'}`);
  return problems > 0 ? 1 : 0;
};

/** The `kubectl get pvc -A -o json` output, checked enough that coverage never trips over it. */
function readPvcList(file: string): Parameters<typeof pvcCoverage>[1] {
  const hint = 'pass the output of kubectl get pvc -A -o json';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--pvcs ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code})`}; ${hint}`);
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--pvcs ${file}: not JSON (${(error as Error).message.replace(/\s+/g, ' ')}); ${hint}`);
  }
  const items = (list as { items?: unknown } | null)?.items;
  if (!Array.isArray(items) || !items.every((i) => typeof (i as { metadata?: { name?: unknown } } | null)?.metadata?.name === 'string')) {
    throw new UsageError(`--pvcs ${file}: not a PVC list (expected {"items": [{"metadata": {"name": ...}}, ...]}); ${hint}`);
  }
  return list as Parameters<typeof pvcCoverage>[1];
}
