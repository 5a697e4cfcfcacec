#!/usr/bin/env node
// Posts a file as the pull request's one plan-review comment: the first push creates it, every
// later push edits it in place, so the review never piles up as one comment per push. The comment
// is found again by a hidden marker on its first line, and by its author: anyone can post a comment
// that starts with the marker, and editing theirs would put the review under their name, where
// they could change it afterwards.
//
// Usage: node sticky-comment.mjs BODY_FILE
// Env: GITHUB_API_URL, GITHUB_REPOSITORY (owner/name), PR_NUMBER, GITHUB_TOKEN.
//
// GitHub and Forgejo (Gitea's API) both serve what this needs, under different roots:
//   - GITHUB_API_URL is https://api.github.com on GitHub and https://HOST/api/v1 on Forgejo, whose
//     runner sets it from the instance's own URL; every path below is relative to it.
//   - Only endpoints that exist in both are used: GET and POST repos/O/R/issues/N/comments (a pull
//     request is an issue to both) and PATCH repos/O/R/issues/comments/ID.
//   - Listing differs: GitHub pages it (per_page at most 100, the next page in a `Link: rel="next"`
//     header); Forgejo ignores per_page and returns every comment at once without a Link header.
//     Following Link until there is none handles both.
//   - The author: GitHub's GITHUB_TOKEN comments as the app user github-actions[bot]; Forgejo's
//     automatic token as its built-in Actions user, whose id is -2 (login forgejo-actions, or
//     gitea-actions on Gitea).
//   - The token goes in `Authorization: token ...`, which both accept. It is read from the
//     environment and sent only in that header: never on a command line, never printed.
// Written in Node rather than curl because the runner's node is always there (setup-node) while jq
// is not on Forgejo's runner images, and the JSON has to be built and read.
import { readFileSync } from 'node:fs';

const MARKER = '<!-- backup-policy-plan-review -->';
// GitHub rejects a comment body over 65,536 characters.
const MAX_BODY_CHARS = 65536;
const MAX_PAGES = 100;
const REQUEST_TIMEOUT_MS = 30000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The comment text: marker first, cut to the size GitHub accepts with a note saying so. */
function commentBody(text) {
  const body = `${MARKER}\n${text.trimEnd()}\n`;
  if (body.length <= MAX_BODY_CHARS) return body;
  const note = '\n\n**This comment was cut at the 65,536-character limit**; the job log has everything.\n';
  return body.slice(0, MAX_BODY_CHARS - note.length) + note;
}

/** The URL of the `rel="next"` entry of a Link header, if any. */
function nextPageUrl(link) {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>(.*)$/.exec(part);
    const rel = m && /;\s*rel="?([^";]*)"?/.exec(m[2]);
    if (rel && rel[1].split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}

async function call(method, url, token, body) {
  const response = await fetch(url, {
    method,
    headers: {
      Authorization: `token ${token}`,
      Accept: 'application/json',
      'User-Agent': 'backup-policy-plan-review',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) {
    const detail = (await response.text()).slice(0, 500);
    throw new Error(`${method} ${url} answered ${response.status} ${response.statusText}: ${detail}`);
  }
  return response;
}

function postedByWorkflow(user) {
  return user?.login === 'github-actions[bot]' || user?.id === -2;
}

/** The answer's JSON; Forgejo may answer an edit with 204 and no body. */
async function json(response) {
  return response.status === 204 ? {} : response.json();
}

/** The id of the workflow's oldest comment that starts with the marker, going through every page. */
async function findComment(api, repo, pr, token) {
  let url = `${api}/repos/${repo}/issues/${pr}/comments?per_page=100`;
  for (let page = 0; url !== undefined; page += 1) {
    if (page === MAX_PAGES) throw new Error(`more than ${MAX_PAGES} pages of comments; giving up`);
    const response = await call('GET', url, token);
    const comments = await response.json();
    if (!Array.isArray(comments)) throw new Error(`GET ${url} did not answer with a list of comments`);
    const ours = comments.find((c) => typeof c.body === 'string' && c.body.startsWith(MARKER) && postedByWorkflow(c.user));
    if (ours) return ours.id;
    url = nextPageUrl(response.headers.get('link'));
  }
  return undefined;
}

async function main(argv) {
  if (argv.length !== 1) throw new Error('usage: sticky-comment.mjs BODY_FILE');
  const api = required('GITHUB_API_URL').replace(/\/+$/, '');
  const repo = required('GITHUB_REPOSITORY');
  const pr = required('PR_NUMBER');
  const token = required('GITHUB_TOKEN');
  if (!/^[^/\s]+\/[^/\s]+$/.test(repo)) throw new Error(`GITHUB_REPOSITORY is not owner/name: ${repo}`);
  if (!/^[1-9][0-9]*$/.test(pr)) throw new Error(`PR_NUMBER is not a pull request number: ${pr}`);
  const body = commentBody(readFileSync(argv[0], 'utf8'));

  const id = await findComment(api, repo, pr, token);
  if (id === undefined) {
    const created = await json(await call('POST', `${api}/repos/${repo}/issues/${pr}/comments`, token, { body }));
    console.log(`Created the plan-review comment ${created.html_url ?? created.id}`);
  } else {
    const updated = await json(await call('PATCH', `${api}/repos/${repo}/issues/comments/${id}`, token, { body }));
    console.log(`Updated the plan-review comment ${updated.html_url ?? id}`);
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(`sticky-comment: ${error.message}`);
  process.exitCode = 1;
});
