import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyValidationError } from '../../policy/values/errors';
import { readScript } from '../../policy/io/scripts';
import { writeHostBundle } from '../../policy/io/write-bundle';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import { UsageError, loadPolicy, option, withPolicySource, type Command } from '../args';

/** host-bundle --out DIR [--policy FILE]: the Proxmox host's scripts, units, host.env and install.sh. */
export const hostBundle: Command = (args, { out }) => {
  const dir = option(args, '--out');
  const policyFile = option(args, '--policy');
  if (!dir || args.length > 0) throw new UsageError('host-bundle takes --out DIR and optionally --policy FILE');
  const host = withPolicySource(loadPolicy(policyFile), planPolicy).host;
  if (!host) throw new PolicyValidationError(['host: the policy has no host section, received nothing, allowed: a host section to render a bundle from']);
  // A leftover file from an older bundle could be installed by mistake: only a fresh folder.
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${dir} is not empty; write the bundle into a new folder`);
  for (const name of writeHostBundle(dir, renderHostBundle(host, readScript))) out(`wrote ${join(dir, name)}`);
  out(`install on the host with: bash ${join(dir, 'install.sh')}`);
  return 0;
};
