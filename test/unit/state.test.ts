import { describe, expect, it } from "vitest";
import { randomToken } from "../../src/crypto/tokens.js";
import {
  createState,
  isIssuedBrowserBinding,
  issueBrowserBinding,
  STATE_MAX_AGE_MS,
  STATE_MAX_FUTURE_SKEW_MS,
  type StateInput,
  verifyState,
} from "../../src/sso/state.js";

const secret = randomToken(32);
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const BINDING = issueBrowserBinding(secret);

/** A state input; overrides may make it invalid on purpose (createState must refuse those). */
function input(overrides: Record<string, unknown> = {}): StateInput {
  return {
    connectionId: "3f2c6a1e-0d3b-4a5e-9c1f-2b7d8e9f0a1b",
    purpose: "login",
    returnTo: "/dashboard?tab=1",
    nonce: "nonce-value-0123456789abcdefghijklmnopqrstuv",
    codeVerifier: "verifier-value-0123456789abcdefghijklmnopqrstuvwxyz",
    browserBinding: BINDING,
    ...overrides,
  } as StateInput;
}

/** Replaces one character inside the given dot-separated segment of a token. */
function tamper(token: string, segment: number, index = 5): string {
  const parts = token.split(".");
  const text = parts[segment]!;
  parts[segment] = text.slice(0, index) + (text[index] === "A" ? "B" : "A") + text.slice(index + 1);
  return parts.join(".");
}

describe("createState / verifyState", () => {
  it("round-trips every field for a login", () => {
    const token = createState(secret, input(), T0);
    const result = verifyState(secret, token, { browserBinding: input().browserBinding }, T0 + 1000);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.payload).toMatchObject({
      connectionId: input().connectionId,
      purpose: "login",
      returnTo: "/dashboard?tab=1",
      nonce: input().nonce,
      codeVerifier: input().codeVerifier,
      issuedAt: T0,
    });
    expect(result.payload.testId).toBeUndefined();
    expect(result.payload.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("round-trips a test flow with its test id and no returnTo", () => {
    const token = createState(secret, input({ purpose: "test", testId: "test-42", returnTo: undefined }), T0);
    const result = verifyState(secret, token, { browserBinding: input().browserBinding }, T0);
    expect(result).toMatchObject({ ok: true, payload: { purpose: "test", testId: "test-42" } });
    if (result.ok) expect(result.payload.returnTo).toBeUndefined();
  });

  it("is URL-safe and does not reveal the nonce, the code verifier or anything else", () => {
    const token = createState(secret, input(), T0);
    expect(token).toMatch(/^s1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const decoded = Buffer.from(token.split(".")[1]!, "base64url").toString("latin1");
    for (const value of [input().nonce, input().codeVerifier, input().connectionId, "dashboard"]) {
      expect(token).not.toContain(value);
      expect(decoded).not.toContain(value);
    }
  });

  it("gives each flow a distinct token and id", () => {
    const a = createState(secret, input(), T0);
    const b = createState(secret, input(), T0);
    expect(a).not.toBe(b);
  });

  it("refuses a tampered token as bad_signature", () => {
    const token = createState(secret, input(), T0);
    const binding = { browserBinding: input().browserBinding };
    expect(verifyState(secret, tamper(token, 1), binding, T0)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(verifyState(secret, tamper(token, 2), binding, T0)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    const [p, blob] = token.split(".");
    const forged = `${p}.${blob}.${"A".repeat(43)}`;
    expect(verifyState(secret, forged, binding, T0)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses a token made with another secret as bad_signature", () => {
    const other = randomToken(32);
    const token = createState(other, input({ browserBinding: issueBrowserBinding(other) }), T0);
    expect(verifyState(secret, token, { browserBinding: input().browserBinding }, T0)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it.each([
    ["empty", ""],
    ["garbage", "not-a-state"],
    ["wrong prefix", "s2.AAAA.BBBB"],
    ["missing mac", "s1.AAAA"],
    ["extra segment", "s1.AAAA.BBBB.CCCC"],
    ["non-base64url", "s1.AA+A.BB/B"],
    ["huge", `s1.${"A".repeat(10_000)}.B`],
  ])("refuses a %s token as malformed", (_, token) => {
    expect(verifyState(secret, token, { browserBinding: input().browserBinding }, T0)).toEqual({
      ok: false,
      reason: "malformed",
    });
  });

  it("expires after 10 minutes (injected clock)", () => {
    const token = createState(secret, input(), T0);
    const binding = { browserBinding: input().browserBinding };
    expect(verifyState(secret, token, binding, T0 + STATE_MAX_AGE_MS).ok).toBe(true);
    expect(verifyState(secret, token, binding, T0 + STATE_MAX_AGE_MS + 1)).toEqual({
      ok: false,
      reason: "expired",
    });
  });

  it("refuses a token from the future beyond 60 s of skew", () => {
    const token = createState(secret, input(), T0);
    const binding = { browserBinding: input().browserBinding };
    expect(verifyState(secret, token, binding, T0 - STATE_MAX_FUTURE_SKEW_MS).ok).toBe(true);
    expect(verifyState(secret, token, binding, T0 - STATE_MAX_FUTURE_SKEW_MS - 1)).toEqual({
      ok: false,
      reason: "future",
    });
  });

  it("refuses another browser, or a missing binding cookie, as browser_mismatch", () => {
    const token = createState(secret, input(), T0);
    for (const browserBinding of [
      issueBrowserBinding(secret),
      "",
      undefined,
      [],
      [issueBrowserBinding(secret)],
    ]) {
      expect(verifyState(secret, token, { browserBinding }, T0)).toEqual({
        ok: false,
        reason: "browser_mismatch",
      });
    }
  });

  it("lets one browser run several flows, each bound to its own value of the browser's set", () => {
    const first = issueBrowserBinding(secret);
    const second = issueBrowserBinding(secret);
    const login = createState(secret, input({ browserBinding: first, connectionId: "conn-a" }), T0);
    const test = createState(
      secret,
      input({ browserBinding: second, connectionId: "conn-b", purpose: "test", testId: "t1" }),
      T0,
    );
    const cookie = { browserBinding: [second, first] };
    const a = verifyState(secret, login, cookie, T0);
    const b = verifyState(secret, test, cookie, T0);
    expect(a.ok && a.payload.connectionId).toBe("conn-a");
    expect(a.ok && a.browserBinding).toBe(first);
    expect(b.ok && b.payload.connectionId).toBe("conn-b");
    expect(b.ok && b.browserBinding).toBe(second);
    expect(verifyState(secret, login, { browserBinding: [second] }, T0)).toEqual({
      ok: false,
      reason: "browser_mismatch",
    });
  });

  it("mints binding values only this secret recognises, and binds states to nothing else", () => {
    const value = issueBrowserBinding(secret);
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issueBrowserBinding(secret)).not.toBe(value);
    expect(isIssuedBrowserBinding(secret, value)).toBe(true);
    expect(isIssuedBrowserBinding(randomToken(32), value)).toBe(false);
    // A value of the right shape that the server did not mint (chosen or planted by an attacker).
    const chosen = randomToken(32);
    expect(isIssuedBrowserBinding(secret, chosen)).toBe(false);
    const flipped = `${value.slice(0, 40)}${value[40] === "A" ? "B" : "A"}${value.slice(41)}`;
    expect(isIssuedBrowserBinding(secret, flipped)).toBe(false);
    expect(() => createState(secret, input({ browserBinding: chosen }), T0)).toThrow(/browserBinding/);
  });

  it("refuses weak secrets and invalid input", () => {
    expect(() => createState("short", input(), T0)).toThrow(/at least 32 bytes/);
    expect(() => verifyState("short", "s1.a.b", { browserBinding: "x" }, T0)).toThrow(/at least 32 bytes/);
    expect(() => createState(secret, input({ returnTo: "//evil.com" }), T0)).toThrow(/returnTo/);
    expect(() => createState(secret, input({ purpose: "test" }), T0)).toThrow(/testId/);
    expect(() => createState(secret, input({ testId: "t1" }), T0)).toThrow(/testId/);
    expect(() => createState(secret, input({ browserBinding: "short" }), T0)).toThrow(/browserBinding/);
    expect(() => createState(secret, input({ nonce: "" }), T0)).toThrow(/nonce/);
  });
});
