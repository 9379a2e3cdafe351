// Helpers of the 2FA suites: an independent TOTP (otplib, with the test clock as its epoch), a
// client with its own IP (so the per-IP limits of one test do not leak into the next), and
// enrolment through the API.
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { generate } from "otplib";
import { expect } from "vitest";
import { Client, type TestApp } from "../support/app.js";

export const PERIOD_MS = 30_000;

/** The code otplib computes for `secret` at the test clock, `stepOffset` steps away. */
export function codeAt(t: TestApp, secret: string, stepOffset = 0): Promise<string> {
  const epoch = Math.floor(t.clock.now().getTime() / 1000) + stepOffset * (PERIOD_MS / 1000);
  return generate({ secret, epoch });
}

/** Moves the clock to 10 s into the next 30-s step: a step no code was used in yet, far from its edges. */
export function freshStep(t: TestApp): void {
  const into = t.clock.now().getTime() % PERIOD_MS;
  t.clock.advance(PERIOD_MS - into + 10_000);
}

let ipCounter = 0;

/** A cookie-aware client for one host whose requests come from their own IP address. */
export class IpClient extends Client {
  readonly ip: string;
  constructor(t: TestApp, host: string, ip?: string) {
    super(t.app, host);
    ipCounter++;
    this.ip = ip ?? `10.${(ipCounter >> 8) & 255}.${ipCounter & 255}.7`;
  }
  override request(opts: InjectOptions & { noOrigin?: boolean }): Promise<LightMyRequestResponse> {
    return super.request({ remoteAddress: this.ip, ...opts });
  }
}

export interface Enrolled {
  secret: string;
  backupCodes: string[];
}

/** Sets up and confirms 2FA for the session of `c`, then moves to a fresh step. */
export async function enrollWith(t: TestApp, c: Client): Promise<Enrolled> {
  const setup = await c.post("/api/account/2fa/setup");
  expect(setup.statusCode, setup.body).toBe(200);
  const { secret } = setup.json() as { secret: string };
  const confirm = await c.post("/api/account/2fa/confirm", { code: await codeAt(t, secret) });
  expect(confirm.statusCode, confirm.body).toBe(200);
  freshStep(t);
  return { secret, backupCodes: (confirm.json() as { backupCodes: string[] }).backupCodes };
}

/** A new user of the agency with 2FA on (enrolled through the API). */
export async function userWith2fa(
  t: TestApp,
  agencyId: string,
  host: string,
  input: Parameters<TestApp["seedUser"]>[1] = {},
): Promise<Enrolled & { email: string; id: string }> {
  const user = await t.seedUser(agencyId, input);
  const c = new IpClient(t, host);
  expect((await c.login(user.email)).json()).toHaveProperty("user");
  const enrolled = await enrollWith(t, c);
  await c.post("/api/auth/logout");
  return { ...enrolled, email: user.email, id: user.id };
}

/** The cookies a response sets (a cleared cookie — empty value — is not set). */
export function cookieNames(res: LightMyRequestResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.cookies as Array<{ name: string; value: string }>) if (c.value) out[c.name] = c.value;
  return out;
}

export async function auditActions(t: TestApp, agencyId: string, userId: string) {
  const rows = await t.ctx.db
    .selectFrom("audit_log")
    .select(["action", "outcome", "details", "actor_id", "target_id"])
    .where("agency_id", "=", agencyId)
    .where((eb) => eb.or([eb("actor_id", "=", userId), eb("target_id", "=", userId)]))
    .orderBy("id", "asc")
    .execute();
  return rows;
}
