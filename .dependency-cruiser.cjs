/**
 * The layers, written down and enforced (test/policy/layers.test.ts runs this on every `npm test`).
 * Data flows one way:
 *
 *   values <- schema <- engines <- parse <- plan <- {render, checks} <- constructs <- stacks <- cli
 *   io (file access) sits beside values: parse, plan's callers, constructs and cli may use it; the
 *   renderers and checks may not (they are pure: plan in, text or objects out).
 *
 * Each rule forbids a layer from importing anything above it.
 */
const layers = [
  ['values', '^policy/values/'],
  ['io', '^policy/io/'],
  ['schema', '^policy/schema/'],
  ['engines', '^policy/engines/'],
  ['parse', '^policy/parse/'],
  ['plan', '^policy/plan/'],
  ['render', '^policy/render/'],
  ['checks', '^policy/checks/'],
  ['barrel', '^policy/index\\.ts$'],
  ['constructs', '^constructs/'],
  ['stacks', '^stacks/'],
  ['cli', '^cli/'],
];

/** What each layer may not import: everything above it (and the siblings named). */
const above = {
  values: ['io', 'schema', 'engines', 'parse', 'plan', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  io: ['schema', 'engines', 'parse', 'plan', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  schema: ['io', 'engines', 'parse', 'plan', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  engines: ['io', 'parse', 'plan', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  parse: ['plan', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  plan: ['io', 'render', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  render: ['io', 'checks', 'barrel', 'constructs', 'stacks', 'cli'],
  checks: ['io', 'render', 'barrel', 'constructs', 'stacks', 'cli'],
  barrel: ['constructs', 'stacks', 'cli'],
  constructs: ['stacks', 'cli', 'barrel'],
  stacks: ['cli'],
  cli: [],
};

const pathOf = Object.fromEntries(layers);

module.exports = {
  forbidden: [
    ...Object.entries(above)
      .filter(([, banned]) => banned.length > 0)
      .map(([layer, banned]) => ({
        name: `${layer}-imports-only-below`,
        comment: `${layer} may not import ${banned.join(', ')}: the layers point one way (see the top of this file)`,
        severity: 'error',
        from: { path: pathOf[layer] },
        to: { path: banned.map((b) => pathOf[b]).join('|') },
      })),
    {
      name: 'pure-renderers-and-checks',
      comment: 'renderers and checks are pure functions of the plan: no file system, no processes',
      severity: 'error',
      from: { path: '^policy/(render|checks)/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|child_process)(/|$)' },
    },
    {
      name: 'no-cdktf-in-the-core',
      comment: 'the policy core never imports cdktf, constructs or a provider: only constructs/ and stacks/ do',
      severity: 'error',
      from: { path: '^(policy|cli)/' },
      to: { path: 'node_modules/(cdktf|constructs|@cdktf)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      // Type-only cycles (a plan type naming an alert type) vanish at run time; value cycles do not.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    // constructs/index.ts is the package's entry barrel; the resolver mistakes the npm package
    // `constructs` for this folder, so following it would report cycles that do not exist.
    doNotFollow: { path: ['node_modules', '^constructs/index\\.ts$'] },
    exclude: { path: '^(dist|node_modules|test|bench|examples)/' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
