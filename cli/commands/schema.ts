import { writeFileSync } from 'node:fs';
import { renderPolicyJsonSchema } from '../../policy/parse/json-schema';
import { noMoreArguments, option, type Command } from '../args';

/** schema [--out FILE]: the JSON Schema for YAML/JSON policies. */
export const schema: Command = (args, { out }) => {
  const file = option(args, '--out');
  noMoreArguments(args);
  if (file) writeFileSync(file, renderPolicyJsonSchema());
  else out(renderPolicyJsonSchema().trimEnd());
  return 0;
};
