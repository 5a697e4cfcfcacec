/**
 * FAKE VAULT. HashiCorp Vault has no Debian package and cannot be downloaded on the test machines,
 * so the Vault job runs against host-scripts/vault-fake/vault, a test double of
 * `vault operator raft snapshot save` that checks its arguments and that the token comes from the
 * environment, and writes a raft-snapshot-shaped archive. This wrapper is what the pod finds as
 * `vault` on the image's PATH; it also checks what the fake cannot know: that VAULT_ADDR is the
 * policy's address and resolves in the pod, and that VAULT_TOKEN is the Secret's value. It logs the
 * sha256 of what it wrote so a test can prove the published backup is that file, byte for byte.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { VAULT_FAKE_DIR } from '../support/run-script';
import * as path from 'node:path';

export type VaultFakeMode = 'ok' | 'fail' | 'empty' | 'corrupt' | 'truncated';

export function vaultShims(opts: { address: string; token: string; mode: VaultFakeMode }): Record<string, string> {
  const host = new URL(opts.address).hostname;
  const tokenSum = createHash('sha256').update(opts.token).digest('hex');
  const wrapper = `#!/bin/bash
# Test double wrapper: see test/harness/vault-shim.ts.
set -euo pipefail
[[ \${VAULT_ADDR:-} == '${opts.address}' ]] || { echo "fake vault: VAULT_ADDR is '\${VAULT_ADDR:-}'" >&2; exit 64; }
getent hosts '${host}' >/dev/null || { echo "fake vault: cannot resolve ${host}" >&2; exit 64; }
[[ $(printf %s "\${VAULT_TOKEN:-}" | sha256sum | cut -d' ' -f1) == '${tokenSum}' ]] || { echo "fake vault: VAULT_TOKEN is not the Secret's token" >&2; exit 64; }
export VAULT_FAKE_MODE='${opts.mode}'
"$(dirname "$0")/.vault-fake" "$@"
echo "fake vault: wrote sha256 $(sha256sum < "\${5}" | cut -d' ' -f1)" >&2
`;
  return { vault: wrapper, '.vault-fake': fs.readFileSync(path.join(VAULT_FAKE_DIR, 'vault'), 'utf8') };
}
