import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readRestoreTimes } from '../../policy/io/restore-times';
import { planPolicy } from '../../policy/plan/plan';
import { generatedFiles } from '../../policy/render/generated-files';
import { loadPolicy, noMoreArguments, option, withPolicySource, type Command } from '../args';

/** generate [--policy FILE] [--dir DIR]: the committed generated files (docs, alerts, schema). */
export const generate: Command = (args, { out }) => {
  const policyFile = option(args, '--policy');
  const dir = option(args, '--dir') ?? '.';
  noMoreArguments(args);
  // Everything is rendered before the first write, so an invalid policy writes nothing.
  // The restore benchmark's committed figures (this package's own measurements) for docs/rpo-rto.md.
  const files = generatedFiles(withPolicySource(loadPolicy(policyFile), planPolicy), readRestoreTimes());
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
    out(`wrote ${join(dir, path)}`);
  }
  return 0;
};
