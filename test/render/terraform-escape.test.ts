/**
 * escapeTerraformTemplate as a pure string function. test/stack/terraform-escaping.test.ts proves
 * with the real Terraform binary that these escapes read back as the original text; this file pins
 * the exact escaped text, so a change to the escape reads as a one-line diff.
 */
import { escapeTerraformTemplate } from '../../policy/render/terraform-escape';

describe('escapeTerraformTemplate', () => {
  test.each([
    ['${', '$${'],
    ['echo "${HOME}"', 'echo "$${HOME}"'],
    ['%{ if a }b%{ endif }', '%%{ if a }b%%{ endif }'],
    // Already-doubled openers are doubled again: Terraform reads "$$${" back as "$${".
    ['$${HOME}', '$$${HOME}'],
    ['%%{', '%%%{'],
    // "$$" and a lone "$" or "%" are not template openers and pass through as they are.
    ['$$', '$$'],
    ['echo $$ $? $((1+2)) 100%', 'echo $$ $? $((1+2)) 100%'],
    ['ends with $', 'ends with $'],
    // Every opener in a line, not only the first.
    ['${a}${b}%{c}', '$${a}$${b}%%{c}'],
    ['a${', 'a$${'],
    ['', ''],
  ])('%j -> %j', (text, escaped) => {
    expect(escapeTerraformTemplate(text)).toBe(escaped);
  });

  test('a whole script: only the openers change, newlines and quoting stay', () => {
    const script = '#!/bin/bash\nset -euo pipefail\nfiles=("${@}")\necho "${#files[@]} files, pid $$"\nprintf \'%{x}\\n\'\n';
    expect(escapeTerraformTemplate(script)).toBe('#!/bin/bash\nset -euo pipefail\nfiles=("$${@}")\necho "$${#files[@]} files, pid $$"\nprintf \'%%{x}\\n\'\n');
  });
});
