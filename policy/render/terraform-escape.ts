/**
 * Terraform treats every JSON string as a template: `${...}` interpolates and `%{...}` is a
 * directive; `$${` and `%%{` are their escapes. Script text must pass through unchanged, so both
 * openers are doubled. (The system this replaces sent `$$result` through unescaped text and
 * its integrity check never reported; a test round-trips every script through real Terraform.)
 */
export function escapeTerraformTemplate(text: string): string {
  // Function replacements: in a replacement string "$$" itself means "$", which would undo the escape.
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}
