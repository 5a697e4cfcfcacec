import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { isMap, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { PolicyValidationError } from '../values/errors';

/**
 * Loads a policy file for the CLI: YAML or JSON (the same parser, so duplicate keys are caught in
 * both: JSON.parse would silently keep the last of two services with the same id), or a
 * TypeScript/JavaScript module exporting the policy (default export or `policy`).
 */
export function loadPolicyFile(file: string): unknown {
  const path = resolve(file);
  const extension = extname(path).toLowerCase();
  if (extension === '.yaml' || extension === '.yml' || extension === '.json') return loadDataFile(path);
  if (extension === '.ts' || extension === '.js' || extension === '.cjs') return loadModule(path);
  throw new PolicyValidationError([`(file): unsupported policy file, received "${file}", allowed: .ts, .js, .yaml, .yml or .json`]);
}

function loadDataFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  const issues = doc.errors.map((e) => `(file): not valid YAML/JSON at line ${e.linePos?.[0].line ?? '?'}, received a parse error (${e.message.split('\n')[0]}), allowed: a YAML or JSON document`);
  issues.push(...duplicateKeys(doc.contents, []));
  if (issues.length > 0) throw new PolicyValidationError(issues);
  return doc.toJS();
}

/** Every duplicate mapping key in the document, with its dotted path. */
function duplicateKeys(node: YamlNode | null, path: string[]): string[] {
  if (!node || !isMap(node)) return [];
  const issues: string[] = [];
  const seen = new Set<string>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const at = [...path, key].join('.');
    if (seen.has(key)) {
      issues.push(
        path.length === 1 && path[0] === 'services'
          ? `${at}: duplicate service id, received "${key}" twice, allowed: each id once (the second would silently replace the first)`
          : `${at}: duplicate key, received "${key}" twice, allowed: each key once`,
      );
    }
    seen.add(key);
    issues.push(...duplicateKeys(pair.value as YamlNode | null, [...path, key]));
  }
  return issues;
}

let typescriptHookInstalled = false;

/** Lets `require` load .ts files by transpiling them (no type check: the schema checks the value). */
function installTypeScriptHook(): void {
  if (typescriptHookInstalled) return;
  // Loaded lazily: only TypeScript policy files need the compiler.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const extensions = require.extensions as NodeJS.RequireExtensions;
  extensions['.ts'] = (module, filename) => {
    const output = ts.transpileModule(readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    (module as unknown as { _compile(code: string, file: string): void })._compile(output.outputText, filename);
  };
  typescriptHookInstalled = true;
}

function loadModule(path: string): unknown {
  if (path.endsWith('.ts')) installTypeScriptHook();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exports = require(path) as Record<string, unknown>;
  const candidates = ['default', 'policy', 'homelabPolicy'].filter((name) => exports[name] !== undefined);
  if (candidates.length === 0) {
    const named = Object.keys(exports).filter((k) => typeof exports[k] === 'object');
    if (named.length === 1) return exports[named[0]];
    throw new PolicyValidationError([`(file): no policy exported, received exports ${JSON.stringify(Object.keys(exports))}, allowed: a default export or an export named "policy"`]);
  }
  return exports[candidates[0]];
}

/**
 * The policy file as it was at a git revision. The revision's tree is unpacked into a temp
 * folder (a TypeScript policy may import other files of that tree), sharing this checkout's
 * node_modules; the caller parses the result with today's schema.
 */
export function loadPolicyAtRevision(revision: string, file: string, nodeModules: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'bp-base-'));
  try {
    const repoRoot = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: dirname(resolve(file)) }).toString().trim();
    const archive = execFileSync('git', ['archive', '--format=tar', revision], { cwd: repoRoot, maxBuffer: 512 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(nodeModules, join(dir, 'node_modules'), 'dir');
    const relativeFile = relative(repoRoot, resolve(file));
    if (!existsSync(join(dir, relativeFile))) {
      throw new PolicyValidationError([`(file): the policy file does not exist at ${revision}, received "${relativeFile}", allowed: a file present in both revisions`]);
    }
    return loadPolicyFile(join(dir, relativeFile));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
