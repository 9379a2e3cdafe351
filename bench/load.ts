/**
 * Load generation for the multi-step SSO sign-in: a bounded closed loop of N concurrent clients
 * (stops at a number of sign-ins OR a time limit, whichever comes first), each sign-in being the
 * three requests a browser makes — start at the app, the IdP's authorization endpoint, the app's
 * callback — with cookies carried between them. Loopback only: `*.localhost` hosts are reached on
 * 127.0.0.1 with the name kept in the Host header.
 */
import { Agent, request } from "undici";

export interface HttpResponse {
  status: number;
  location: string | undefined;
  cookies: Map<string, string>;
}

export class HttpClient {
  private readonly agent: Agent;
  constructor(connections: number) {
    this.agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  /** GET without following redirects; `*.localhost` is reached on 127.0.0.1. */
  async get(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const target = new URL(url);
    const host = target.host;
    if (target.hostname.endsWith(".localhost")) target.hostname = "127.0.0.1";
    const res = await request(target, {
      method: "GET",
      headers: { host, accept: "text/html", "user-agent": "copilot-bench/1.0", ...headers },
      dispatcher: this.agent,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    await res.body.dump();
    const cookies = new Map<string, string>();
    const raw = res.headers["set-cookie"];
    for (const line of Array.isArray(raw) ? raw : raw ? [raw] : []) {
      const pair = line.split(";", 1)[0] ?? "";
      const eq = pair.indexOf("=");
      if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const loc = res.headers.location;
    const location = typeof loc === "string" ? new URL(loc, url).href : undefined;
    return { status: res.statusCode, location, cookies };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export class SignInError extends Error {}

function expectRedirect(res: HttpResponse, step: string): string {
  if (res.status !== 302 && res.status !== 303) {
    throw new SignInError(`${step}: HTTP ${res.status}${res.location ? ` → ${res.location}` : ""}`);
  }
  if (!res.location) throw new SignInError(`${step}: redirect without Location`);
  return res.location;
}

/**
 * One complete sign-in: GET `startUrl` → the IdP (as person `user`) → the callback, which must end
 * with a 302 to `/` that sets `sessionCookie`. `appCookie` is the cookie the app set at the start
 * (its state binding or session) and expects back at the callback.
 */
export async function signIn(
  http: HttpClient,
  input: { startUrl: string; appCookie: string; sessionCookie: string; user: number },
): Promise<void> {
  const start = await http.get(input.startUrl);
  const toIdp = expectRedirect(start, "start");
  const binding = start.cookies.get(input.appCookie);
  if (!binding) throw new SignInError(`start: no ${input.appCookie} cookie`);
  const idp = await http.get(toIdp, { cookie: `bench_user=${input.user}` });
  const callback = expectRedirect(idp, "idp");
  const done = await http.get(callback, { cookie: `${input.appCookie}=${binding}` });
  const to = expectRedirect(done, "callback");
  if (new URL(to).pathname !== "/") throw new SignInError(`callback: redirected to ${to}`);
  if (!done.cookies.get(input.sessionCookie))
    throw new SignInError(`callback: no ${input.sessionCookie} cookie`);
}

export interface LoopResult {
  ops: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  /** Per-operation latencies in ms (successful operations). */
  latencies: number[];
}

/** N clients, each running `op` back to back until `maxOps` were started or `maxSeconds` passed. */
export async function closedLoop(options: {
  clients: number;
  maxOps: number;
  maxSeconds: number;
  op: (client: number, n: number) => Promise<void>;
}): Promise<LoopResult> {
  let started = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | null = null;
  const latencies: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + options.maxSeconds * 1000;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, client) => {
      while (started < options.maxOps && performance.now() < deadline) {
        const n = started++;
        const s = performance.now();
        try {
          await options.op(client, n);
          latencies.push(performance.now() - s);
          ops++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  return { ops, errors, firstError, seconds: (performance.now() - t0) / 1000, latencies };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
