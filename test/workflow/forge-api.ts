/**
 * A stand-in for the part of the GitHub and Forgejo REST APIs that the plan-review workflow uses,
 * on 127.0.0.1: list, create and edit the comments of a pull request. Faked because neither forge
 * runs here; kept faithful to both where they differ, since that difference is what the workflow's
 * comment client has to get right:
 *   - GitHub serves the API at the root of api.github.com; Forgejo under /api/v1 of the instance.
 *   - GitHub pages the list (`per_page`, default 30, at most 100; `page`) and links the next page
 *     with an absolute URL in `Link: <...>; rel="next", <...>; rel="last"`. Forgejo's list of an
 *     issue's comments is not paged: it ignores `per_page`/`page` and answers with every comment,
 *     with an `X-Total-Count` header and no Link.
 *   - The workflow's automatic token comments as github-actions[bot] (a Bot) on GitHub, and as the
 *     built-in Actions user (id -2, login forgejo-actions) on Forgejo.
 *   - Both: POST answers 201 with the comment, PATCH of repos/O/R/issues/comments/ID answers 200
 *     with it; a wrong token is 401; GitHub refuses a body over 65,536 characters (422).
 * Every request is recorded (method, path, query, Authorization header, JSON body) for assertions.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ForgeFlavor = 'github' | 'forgejo';

export interface ForgeComment {
  id: number;
  body: string;
  html_url: string;
  user: ForgeUser;
  created_at: string;
  updated_at: string;
}

export interface ForgeUser {
  id: number;
  login: string;
  type?: 'User' | 'Bot';
}

export interface RecordedRequest {
  method: string;
  /** Path relative to the API root, without the query. */
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  body: unknown;
}

const GITHUB_MAX_BODY = 65536;

export class ForgeApi {
  /** The API root, as the runner puts it in GITHUB_API_URL. */
  readonly apiUrl: string;
  readonly requests: RecordedRequest[] = [];
  /** Comments per issue number, oldest first. */
  private readonly comments = new Map<number, ForgeComment[]>();
  private nextId = 1001;

  private constructor(
    readonly flavor: ForgeFlavor,
    private readonly server: http.Server,
    private readonly origin: string,
    private readonly repository: string,
    private readonly token: string,
  ) {
    this.apiUrl = flavor === 'github' ? origin : `${origin}/api/v1`;
  }

  static async start(flavor: ForgeFlavor, opts: { repository: string; token: string }): Promise<ForgeApi> {
    let api: ForgeApi | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => api!.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    api = new ForgeApi(flavor, server, `http://127.0.0.1:${port}`, opts.repository, opts.token);
    return api;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Comments written by others before the run, e.g. a long discussion that spans pages. */
  seed(issue: number, bodies: string[], user: ForgeUser | 'workflow' = { id: 7, login: 'someone', type: 'User' }): ForgeComment[] {
    return bodies.map((body) => this.add(issue, body, user === 'workflow' ? this.workflowUser() : user));
  }

  /** The user the workflow's automatic token acts as. */
  workflowUser(): ForgeUser {
    return this.flavor === 'github' ? { id: 41898282, login: 'github-actions[bot]', type: 'Bot' } : { id: -2, login: 'forgejo-actions' };
  }

  commentsOn(issue: number): ForgeComment[] {
    return [...(this.comments.get(issue) ?? [])];
  }

  /** The recorded requests other than reads. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  private add(issue: number, body: string, user: ForgeUser): ForgeComment {
    const id = this.nextId++;
    const now = new Date().toISOString();
    const comment: ForgeComment = {
      id,
      body,
      html_url: `${this.origin}/${this.repository}/pull/${issue}#issuecomment-${id}`,
      user: this.flavor === 'github' ? user : { id: user.id, login: user.login },
      created_at: now,
      updated_at: now,
    };
    this.comments.set(issue, [...(this.comments.get(issue) ?? []), comment]);
    return comment;
  }

  private handle(req: http.IncomingMessage, rawBody: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.origin);
    const prefix = this.flavor === 'github' ? '' : '/api/v1';
    let body: unknown;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      body = rawBody;
    }
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname.startsWith(prefix) ? path : `(outside the API root) ${url.pathname}`,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
      body,
    });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    if (!url.pathname.startsWith(prefix)) return send(404, { message: 'Not Found' });
    if (req.headers.authorization !== `token ${this.token}`) return send(401, { message: 'Bad credentials' });

    const repo = this.repository.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const list = new RegExp(`^/repos/${repo}/issues/(\\d+)/comments$`).exec(path);
    const edit = new RegExp(`^/repos/${repo}/issues/comments/(\\d+)$`).exec(path);
    if (list && req.method === 'GET') return this.list(Number(list[1]), url, send);
    if (list && req.method === 'POST') {
      const text = (body as { body?: unknown } | undefined)?.body;
      if (typeof text !== 'string') return send(422, { message: 'Validation Failed: body is missing' });
      if (this.flavor === 'github' && text.length > GITHUB_MAX_BODY) return send(422, { message: 'Validation Failed: body is too long (maximum is 65536 characters)' });
      return send(201, this.add(Number(list[1]), text, this.workflowUser()));
    }
    if (edit && req.method === 'PATCH') {
      const text = (body as { body?: unknown } | undefined)?.body;
      if (typeof text !== 'string') return send(422, { message: 'Validation Failed: body is missing' });
      if (this.flavor === 'github' && text.length > GITHUB_MAX_BODY) return send(422, { message: 'Validation Failed: body is too long (maximum is 65536 characters)' });
      for (const comments of this.comments.values()) {
        const comment = comments.find((c) => c.id === Number(edit[1]));
        if (comment) {
          comment.body = text;
          comment.updated_at = new Date().toISOString();
          return send(200, comment);
        }
      }
      return send(404, { message: 'Not Found' });
    }
    return send(404, { message: 'Not Found' });
  }

  private list(issue: number, url: URL, send: (status: number, payload: unknown, headers?: Record<string, string>) => void): void {
    const all = this.commentsOn(issue);
    if (this.flavor === 'forgejo') return send(200, all, { 'X-Total-Count': String(all.length) });
    const perPage = Math.min(Math.max(Number(url.searchParams.get('per_page') ?? 30) || 30, 1), 100);
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
    const lastPage = Math.max(Math.ceil(all.length / perPage), 1);
    const pageUrl = (n: number) => {
      const u = new URL(url.toString());
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(n));
      return u.toString();
    };
    const links: string[] = [];
    if (page < lastPage) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(lastPage)}>; rel="last"`);
    if (page > 1) links.push(`<${pageUrl(1)}>; rel="first"`, `<${pageUrl(page - 1)}>; rel="prev"`);
    send(200, all.slice((page - 1) * perPage, page * perPage), links.length > 0 ? { Link: links.join(', ') } : {});
  }
}
