import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { EnvironmentError, PolicyValidationError, UsageError, dottedPath } from '../values/errors';

/** Line and column, both counted from 1, as editors and compilers print them. */
export interface SourcePosition {
  line: number;
  col: number;
}

/** A loaded policy and how to find a field of it in its file. */
export interface PolicySource {
  file: string;
  value: unknown;
  /** Where the field at `path` (or its nearest existing parent) is written; undefined when unknown. */
  locate(path: readonly PropertyKey[]): SourcePosition | undefined;
}

/**
 * Loads a policy file for the CLI: YAML or JSON (the same parser, so duplicate keys are caught in
 * both: JSON.parse would silently keep the last of two services with the same id), or a
 * TypeScript/JavaScript module exporting the policy (default export or `policy`).
 */
export function loadPolicyFile(file: string): unknown {
  return loadPolicySource(file).value;
}

export function loadPolicySource(file: string): PolicySource {
  const path = resolve(file);
  const extension = extname(path).toLowerCase();
  if (!['.yaml', '.yml', '.json', '.ts', '.js', '.cjs'].includes(extension)) {
    throw new UsageError(`${file}: not a policy file name; give a .ts, .js, .yaml, .yml or .json file`);
  }
  const text = readPolicyText(file, path);
  if (extension === '.ts' || extension === '.js' || extension === '.cjs') {
    const value = loadModule(file, path, extension === '.ts' ? text : undefined);
    return { file, value, locate: (fieldPath) => locateInModule(path, text, fieldPath) };
  }
  return loadDataFile(file, text);
}

function readPolicyText(file: string, path: string): string {
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`${file}: is a folder; give the policy file inside it`);
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`${file}: no such policy file; check the path (relative to ${process.cwd()})`);
    if (code === 'EACCES' || code === 'EPERM') throw new EnvironmentError(`${file}: not readable by this user; fix its permissions`);
    throw error;
  }
}

/** YAML's anchors are allowed (shared retention blocks), but a few may not expand into millions. */
const MAX_ALIAS_EXPANSIONS = 100;

function loadDataFile(file: string, text: string): PolicySource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  // The first syntax error is the real one; YAML's recovery turns one tab or one missing quote
  // into a cascade of follow-on errors that only bury it.
  const syntax = doc.errors[0];
  if (syntax) {
    throw new PolicyValidationError([`${at(syntax.pos[0])}: not valid YAML/JSON: ${syntax.message.split('\n')[0]}; fix this line (later errors often follow from it)`]);
  }
  const keyIssues = keyProblems(doc.contents, [], (node) => at(node?.range?.[0]));
  if (keyIssues.length > 0) throw new PolicyValidationError(keyIssues);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (error) {
    if (error instanceof ReferenceError) {
      throw new PolicyValidationError([`${file}: YAML aliases expand too far (${error.message.toLowerCase()}), allowed: at most ${MAX_ALIAS_EXPANSIONS} alias uses; write the repeated parts out`]);
    }
    throw error;
  }
  return { file, value, locate: (path) => locateIn(doc, lineCounter, path) };
}

/** Keys JavaScript gives a meaning of their own: `__proto__:` replaced the object's prototype. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Every duplicate or reserved mapping key, in maps and in list items, with its path and position. */
function keyProblems(node: YamlNode | null | undefined, path: (string | number)[], at: (node: YamlNode | null | undefined) => string): string[] {
  if (!node) return [];
  if (isSeq(node)) return node.items.flatMap((item, i) => keyProblems(item as YamlNode, [...path, i], at));
  if (!isMap(node)) return [];
  const issues: string[] = [];
  const seen = new Set<string>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const keyPath = [...path, key];
    const dotted = dottedPath(keyPath);
    const where = at(pair.key as YamlNode);
    if (RESERVED_KEYS.has(key)) {
      issues.push(`${where}: ${dotted}: reserved key, received ${JSON.stringify(key)}, allowed: any other name (JavaScript gives "${key}" a meaning of its own)`);
      continue;
    }
    if (seen.has(key)) {
      issues.push(
        path.length === 1 && path[0] === 'services'
          ? `${where}: ${dotted}: duplicate service id, received ${JSON.stringify(key)} twice, allowed: each id once (the second would silently replace the first)`
          : `${where}: ${dotted}: duplicate key, received ${JSON.stringify(key)} twice, allowed: each key once`,
      );
    }
    seen.add(key);
    issues.push(...keyProblems(pair.value as YamlNode | null, keyPath, at));
  }
  return issues;
}

/** The position of the node at `path`, or of its nearest parent that exists (for a missing field). */
function locateIn(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): SourcePosition | undefined {
  let node: unknown = doc.contents;
  let position = (node as YamlNode | null)?.range?.[0];
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      position = (pair.value as YamlNode | null)?.range?.[0] ?? (pair.key as YamlNode).range?.[0];
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
      node = node.items[segment];
      position = (node as YamlNode).range?.[0];
    } else {
      break;
    }
  }
  return position === undefined ? undefined : lineCounter.linePos(position);
}

/**
 * The position of a field in a TypeScript/JavaScript policy: the exported object literal
 * (`export const policy = defineBackupPolicy({...})`, a default export, or a plain literal) walked
 * along the path; a field built by code stops the walk at the nearest literal parent.
 */
function locateInModule(path: string, text: string, fieldPath: readonly PropertyKey[]): SourcePosition | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const unwrap = (node: import('typescript').Node | undefined): import('typescript').Node | undefined => {
    while (node && (ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isParenthesizedExpression(node))) node = node.expression;
    if (node && ts.isCallExpression(node) && node.arguments.length === 1) return unwrap(node.arguments[0]);
    return node;
  };
  const exported = new Map<string, import('typescript').Node | undefined>();
  for (const statement of source.statements) {
    if (ts.isExportAssignment(statement)) exported.set('default', unwrap(statement.expression));
    if (ts.isVariableStatement(statement) && statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) exported.set(declaration.name.text, unwrap(declaration.initializer));
      }
    }
  }
  const objects = [...exported.values()].filter((n) => n && ts.isObjectLiteralExpression(n));
  let node = ['default', 'policy', 'homelabPolicy'].map((name) => exported.get(name)).find((n) => n !== undefined) ?? (objects.length === 1 ? objects[0] : undefined);
  if (!node) return undefined;
  for (const segment of fieldPath) {
    let next: import('typescript').Node | undefined;
    if (ts.isObjectLiteralExpression(node)) {
      const property: import('typescript').ObjectLiteralElementLike | undefined = node.properties.find((p) => p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) || ts.isNumericLiteral(p.name)) && p.name.text === String(segment));
      next = property && ts.isPropertyAssignment(property) ? unwrap(property.initializer) ?? property : property;
    } else if (ts.isArrayLiteralExpression(node) && typeof segment === 'number') {
      next = unwrap(node.elements[segment]);
    }
    if (!next) break;
    node = next;
  }
  const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
  return { line: line + 1, col: character + 1 };
}

let typescriptHookInstalled = false;

/** Lets `require` load .ts files by transpiling them (after the type check in loadModule). */
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

/**
 * Type-checks a TypeScript policy before running it. Transpiling alone dropped what the schema
 * cannot see: of two services with the same key the second silently won, and a syntax error
 * surfaced as a runtime stack trace. Reported as `file:line:col: message (TSnnnn)`.
 */
function typeCheck(file: string, path: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const program = ts.createProgram([path], {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    types: [],
  });
  const source = program.getSourceFile(path);
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...(program.getSyntacticDiagnostics(source).length > 0 ? [] : program.getSemanticDiagnostics(source))];
  if (diagnostics.length === 0) return;
  throw new PolicyValidationError(
    diagnostics.map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '; ');
      if (!d.file || d.start === undefined) return `${file}: ${message} (TS${d.code})`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${file}:${line + 1}:${character + 1}: ${message} (TS${d.code})`;
    }),
  );
}

function loadModule(file: string, path: string, typescriptText: string | undefined): unknown {
  if (typescriptText !== undefined) {
    typeCheck(file, path);
    installTypeScriptHook();
  }
  let exports: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exports = require(path) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof PolicyValidationError) throw error;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new PolicyValidationError([`${file}: running the policy module failed: ${message}; fix the module so that loading it only builds the policy`]);
  }
  const candidates = ['default', 'policy', 'homelabPolicy'].filter((name) => exports[name] !== undefined);
  if (candidates.length === 0) {
    const named = Object.keys(exports).filter((k) => typeof exports[k] === 'object');
    if (named.length === 1) return exports[named[0]];
    throw new PolicyValidationError([`${file}: no policy exported, received exports ${JSON.stringify(Object.keys(exports))}, allowed: a default export or an export named "policy"`]);
  }
  return exports[candidates[0]];
}

/**
 * The policy file as it was at a git revision. The revision's tree is unpacked into a temp
 * folder (a TypeScript policy may import other files of that tree), sharing this checkout's
 * node_modules; the caller parses the result with today's schema.
 */
export function loadPolicyAtRevision(revision: string, file: string, nodeModules: string): unknown {
  if (!existsSync(file)) throw new UsageError(`${file}: no such policy file; check the path (relative to ${process.cwd()})`);
  const repoRoot = git(['rev-parse', '--show-toplevel'], dirname(resolve(file)), () => new EnvironmentError(`${file}: not inside a git repository; plan-review compares the policy with a git revision, so run it in a checkout`))
    .toString()
    .trim();
  git(['rev-parse', '--verify', '--quiet', `${revision}^{commit}`], repoRoot, () => new UsageError(`--base ${revision}: not a commit in ${repoRoot}; give a branch, tag or commit (after git fetch, e.g. origin/main)`));
  const dir = mkdtempSync(join(tmpdir(), 'bp-base-'));
  try {
    const archive = git(['archive', '--format=tar', revision], repoRoot, () => new EnvironmentError(`git archive ${revision} failed in ${repoRoot}`));
    execFileSync('tar', ['-x', '-C', dir], { input: archive, stdio: ['pipe', 'pipe', 'pipe'] });
    symlinkSync(nodeModules, join(dir, 'node_modules'), 'dir');
    const relativeFile = relative(repoRoot, resolve(file));
    if (!existsSync(join(dir, relativeFile))) {
      throw new UsageError(`--base ${revision}: the policy file ${relativeFile} does not exist at that revision; give a revision that has it`);
    }
    return loadPolicyFile(join(dir, relativeFile));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs git quietly; its failure becomes the caller's one-line error, a missing git an environment error. */
function git(args: string[], cwd: string, failure: () => Error): Buffer {
  try {
    return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 512 * 1024 * 1024 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EnvironmentError('git is not installed (or not on PATH); plan-review needs it');
    throw failure();
  }
}
