import { parsePolicy } from '../../policy/parse/parse';
import { PolicyValidationError } from '../../policy/values/errors';
import { samplePolicy } from '../support/policies';

/**
 * An issue is one line of plain text whatever the policy holds: a newline in a received value or
 * a key split one issue over two lines (the second read like another issue), and an escape code
 * could repaint the terminal or the CI log the review is posted from.
 */
function issuesOf(edit: (policy: any) => void): string[] {
  const policy = samplePolicy() as any;
  edit(policy);
  try {
    parsePolicy(policy);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyValidationError);
    return (error as PolicyValidationError).issues;
  }
  throw new Error('the policy was accepted');
}

test.each([
  ['a value with a newline', (p: any) => (p.services.pg.namespace = 'db\nservices.pg: all good')],
  ['a value with an escape code', (p: any) => (p.services.pg.namespace = '\u001b[2J\u001b[31mdb')],
  ['a key with a newline', (p: any) => (p.services.pg['extra\nfield'] = 1)],
  ['a service id with a line separator', (p: any) => (p.services['a\u2028b'] = p.services.pg)],
])('%s', (_name, edit) => {
  const issues = issuesOf(edit);
  expect(issues.length).toBeGreaterThan(0);
  for (const issue of issues) expect(issue).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
});

test('the received value stays readable, escaped as JSON', () => {
  expect(issuesOf((p) => (p.services.pg.namespace = 'db\nx'))).toEqual([expect.stringContaining('received "db\\nx"')]);
});

test('an unknown key that is a near miss gets a suggestion, a far one none', () => {
  expect(issuesOf((p) => (p.services.pg.retnetion = p.services.pg.retention))).toEqual(
    expect.arrayContaining([expect.stringMatching(/^services\.pg\.retnetion: unknown field "retnetion"; did you mean `retention`\?/)]),
  );
  expect(issuesOf((p) => (p.services.pg.frobnicate = 1))).toEqual([expect.not.stringContaining('did you mean')]);
});
