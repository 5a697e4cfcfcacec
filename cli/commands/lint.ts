import { readFileSync } from 'node:fs';
import { planPolicy } from '../../policy/plan/plan';
import { lintPlan, lintWarnings } from '../../policy/checks/lint';
import { pvcCoverage, renderCoverage } from '../../policy/checks/coverage';
import { loadPolicy, noMoreArguments, option, options, type Command } from '../args';

/** lint [--policy FILE] [--pvcs FILE] [--lvm-class NAME]... [--nfs-class NAME]... */
export const lint: Command = (args, { out, err }) => {
  const policyFile = option(args, '--policy');
  const pvcsFile = option(args, '--pvcs');
  const lvm = options(args, '--lvm-class');
  const nfs = options(args, '--nfs-class');
  noMoreArguments(args);
  const plan = planPolicy(loadPolicy(policyFile));
  const findings = lintPlan(plan);
  for (const w of lintWarnings(plan)) err(`warning: ${w.path}: ${w.message}`);
  for (const f of findings) err(`${f.path}: ${f.message}`);
  let gaps = 0;
  if (pvcsFile) {
    const report = pvcCoverage(plan, JSON.parse(readFileSync(pvcsFile, 'utf8')), { lvm: lvm.length > 0 ? lvm : ['proxmox-lvm'], nfs });
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
