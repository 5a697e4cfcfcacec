import { LazyBase, TerraformResource, Token, Tokenization, type IAspect, type IResolvable, type IResolveContext } from 'cdktf';
import type { IConstruct } from 'constructs';
import { escapeTerraformTemplate } from '../policy/render/terraform-escape';

/**
 * The one place where text becomes Terraform. Terraform treats every JSON string as a template
 * (`${...}` interpolates, `%{...}` is a directive), so a policy string carrying
 * `${file(pathexpand("~/.ssh/id_ed25519"))}` in a label made Terraform read the deployer's key
 * into the cluster and the state. Every resource under the policy passes through this aspect at
 * synth: each literal part of each string is escaped, whatever field it sits in, including the
 * kubernetes_manifest object and values produced lazily (the alert rules). cdktf's own tokens
 * (references, functions, variables) are the only template syntax that passes, because the
 * stack put them there, not the policy. Renderers therefore hand over plain text, never escaped.
 */
export class TerraformLiteralStrings implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource)) return;
    const render = node.toTerraform.bind(node);
    node.toTerraform = () => literalResources(render(), literalStrings);
    // `cdktf synth --hcl` (the escape hatch from archived CDKTF) renders through its own method.
    const renderHcl = node.toHclTerraform.bind(node);
    node.toHclTerraform = () => literalResources(renderHcl(), literalHclAttributes);
  }
}

function literalResources(rendered: { resource?: Record<string, Record<string, Record<string, unknown>>> }, escape: (value: unknown) => unknown) {
  for (const byId of Object.values(rendered.resource ?? {})) {
    for (const [id, attributes] of Object.entries(byId)) {
      // "//" holds cdktf's own metadata (construct paths), which Terraform never evaluates.
      const { '//': metadata, ...rest } = attributes;
      byId[id] = { ...(escape(rest) as Record<string, unknown>), ...(metadata === undefined ? {} : { '//': metadata }) };
    }
  }
  return rendered;
}

/**
 * The HCL form wraps each attribute as { value, type, storageClassType, isBlock }: only values
 * are text for Terraform, and a "reference" value is an address by design.
 */
function literalHclAttributes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(literalHclAttributes);
  if (value === null || typeof value !== 'object' || Token.isUnresolved(value)) return literalStrings(value);
  const record = value as Record<string, unknown>;
  if ('storageClassType' in record && 'value' in record) {
    return record.storageClassType === 'reference' ? record : { ...record, value: literalHclAttributes(record.value) };
  }
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, literalHclAttributes(v)]));
}

/** cdktf's string encoding of a token: `${TfToken[TOKEN.12]}` (see cdktf/lib/tokens/private/encoding). */
const STRING_TOKEN = /\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}/g;

/** Escapes the literal parts of a string; embedded tokens stay, a lazy one is escaped once produced. */
function literalString(text: string): string {
  if (!Token.isUnresolved(text)) return escapeTerraformTemplate(text);
  let out = '';
  let last = 0;
  for (const match of text.matchAll(STRING_TOKEN)) {
    const token = Tokenization.reverseString(match[0]).firstToken;
    const lazy = token instanceof LazyBase ? Token.asString(literalLazy(token)) : match[0];
    out += escapeTerraformTemplate(text.slice(last, match.index)) + lazy;
    last = match.index + match[0].length;
  }
  return out + escapeTerraformTemplate(text.slice(last));
}

function literalStrings(value: unknown): unknown {
  if (typeof value === 'string') return literalString(value);
  if (Array.isArray(value)) return value.map(literalStrings);
  if (value === null || typeof value !== 'object') return value;
  if (Token.isUnresolved(value)) return literalLazy(value as IResolvable);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literalStrings(v)]));
}

/**
 * A value produced at synth (Lazy): its result is escaped the same way once produced. Other
 * tokens are expressions (references, functions, conditionals), Terraform syntax by design: kept.
 */
function literalLazy(token: IResolvable): IResolvable {
  if (!(token instanceof LazyBase)) return token;
  return {
    creationStack: token.creationStack,
    resolve: (context: IResolveContext) => literalStrings(token.resolve(context)),
    toString: () => token.toString(),
  };
}
