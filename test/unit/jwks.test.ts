import { generateKeyPairSync, KeyObject, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { errors, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from "jose";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSafeFetch } from "../../src/net/safe-fetch.js";
import { createJwksCache, JwksUnavailableError } from "../../src/sso/jwks.js";
import { type LoopbackServer, startLoopbackServer } from "../support/loopback-server.js";

interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

interface JwksServer {
  url: string;
  hits: number;
  /** What the server answers; mutable between requests. */
  body: unknown;
  status: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
const loopbacks: LoopbackServer[] = [];

afterEach(async () => {
  await Promise.all(loopbacks.splice(0).map((s) => s.close()));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

async function makeKey(alg: "RS256" | "ES256", kid: string, extra: Partial<JWK> = {}): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig", ...extra };
  return { kid, privateKey, jwk };
}

async function startJwksServer(keys: unknown[]): Promise<JwksServer> {
  const state: JwksServer = {
    url: "",
    hits: 0,
    body: { keys },
    status: 200,
    close: async () => {},
  };
  const server = createServer((_req, res) => {
    state.hits++;
    res.writeHead(state.status, { "content-type": "application/json" });
    res.end(JSON.stringify(state.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

function sign(key: KeyPair, alg = key.jwk.alg as string): Promise<string> {
  return new SignJWT({ sub: "user-1" })
    .setProtectedHeader({ alg, kid: key.kid })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);
}

const safeFetch = createSafeFetch({ allowPrivate: true, timeoutMs: 2000 });

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

let rsa1: KeyPair;
let rsa2: KeyPair;
let rsa3: KeyPair;
let ec1: KeyPair;

beforeAll(async () => {
  rsa1 = await makeKey("RS256", "rsa-1");
  rsa2 = await makeKey("RS256", "rsa-2");
  rsa3 = await makeKey("RS256", "rsa-3");
  ec1 = await makeKey("ES256", "ec-1");
});

describe("createJwksCache", () => {
  it("verifies tokens through keyResolver and serves later calls from the cache", async () => {
    const server = await startJwksServer([rsa1.jwk, ec1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    const resolver = cache.keyResolver(server.url);
    const first = await jwtVerify(await sign(rsa1), resolver, { algorithms: ["RS256"] });
    expect(first.payload.sub).toBe("user-1");
    await jwtVerify(await sign(ec1), resolver, { algorithms: ["ES256"] });
    await jwtVerify(await sign(rsa1), resolver, { algorithms: ["RS256"] });
    expect(server.hits).toBe(1);
  });

  it("leaves algorithm pinning to the caller", async () => {
    const server = await startJwksServer([ec1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await expect(
      jwtVerify(await sign(ec1), cache.keyResolver(server.url), { algorithms: ["RS256"] }),
    ).rejects.toBeInstanceOf(errors.JOSEAlgNotAllowed);
  });

  it("shares one download between concurrent callers", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await Promise.all(
      Array.from({ length: 20 }, () => cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })),
    );
    expect(server.hits).toBe(1);
  });

  it("follows a rotation right after the first download; the cooldown runs from that refetch", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, cooldownMs: 30_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    server.body = { keys: [rsa1.jwk, rsa2.jwk] }; // the IdP rotates moments after our first download

    c.t += 1_000; // the first download does not start the cooldown: one refetch finds the new key
    await jwtVerify(await sign(rsa2), cache.keyResolver(server.url), { algorithms: ["RS256"] });
    expect(server.hits).toBe(2);

    server.body = { keys: [rsa2.jwk, rsa3.jwk] }; // and rotates again
    c.t += 10_000; // inside the cooldown of the refetch: no download, the kid stays unknown
    await expect(cache.getKey(server.url, { kid: "rsa-3", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(2);

    c.t += 20_000; // 30 s after the refetch: the next one finds the new key
    await jwtVerify(await sign(rsa3), cache.keyResolver(server.url), { algorithms: ["RS256"] });
    expect(server.hits).toBe(3);
  });

  it("does not start the cooldown with a max-age refresh", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, maxAgeMs: 600_000, cooldownMs: 30_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    c.t += 600_000;
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" }); // routine refresh
    expect(server.hits).toBe(2);
    server.body = { keys: [rsa1.jwk, rsa2.jwk] };
    c.t += 1_000;
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).resolves.toBeDefined();
    expect(server.hits).toBe(3);
  });

  it("does not download twice for an unknown kid in the call that made the first download", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, cooldownMs: 30_000 });
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(1);
    // That was no refetch for the kid, so no cooldown runs: the next unknown kid may refetch once.
    server.body = { keys: [rsa1.jwk, rsa2.jwk] };
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).resolves.toBeDefined();
    expect(server.hits).toBe(2);
    await expect(cache.getKey(server.url, { kid: "rsa-3", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(2);
  });

  it("retries a failed refetch after a short backoff, not the cooldown, then follows the rotation", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, cooldownMs: 30_000, retryMs: 1_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    server.status = 503;
    server.body = { keys: [] };
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(2);
    server.status = 200;
    server.body = { keys: [rsa1.jwk, rsa2.jwk] };
    c.t += 999; // inside the backoff: no download
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(2);
    c.t += 1; // 1 s after the failure (not 30 s): the refetch finds the new key
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).resolves.toBeDefined();
    // The cached keys kept serving throughout.
    await expect(cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).resolves.toBeDefined();
    expect(server.hits).toBe(3);
    // That successful refetch starts the cooldown for the next unknown kid.
    c.t += 5_000;
    await expect(cache.getKey(server.url, { kid: "rsa-3", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    expect(server.hits).toBe(3);
  });

  it("backs off 1 s, 2 s, 4 s … up to the cooldown while the server is down, and recovers within the backoff", async () => {
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [rsa1.jwk] }));
    });
    loopbacks.push(server);
    await server.setDown(true, "error");
    const url = `${server.origin}/certs`;
    let attempts = 0;
    const counting = (input: string, init?: RequestInit) => {
      attempts++;
      return safeFetch(input, init);
    };
    const c = clock();
    const cache = createJwksCache({ fetch: counting, now: c.now, cooldownMs: 8_000, retryMs: 1_000 });
    const tryOnce = () =>
      cache.getKey(url, { kid: "rsa-1", alg: "RS256" }).then(
        () => "ok",
        (e: unknown) => (e instanceof JwksUnavailableError ? "unavailable" : String(e)),
      );
    expect(await tryOnce()).toBe("unavailable");
    expect(attempts).toBe(1);
    // The waits before each next download: 1 s, 2 s, 4 s, then capped at the cooldown (8 s).
    for (const wait of [1_000, 2_000, 4_000, 8_000, 8_000]) {
      c.t += wait - 1;
      expect(await tryOnce()).toBe("unavailable");
      const before = attempts;
      c.t += 1;
      expect(await tryOnce()).toBe("unavailable");
      expect(attempts).toBe(before + 1);
    }
    // Back up: the next try after the current backoff succeeds.
    await server.setDown(false);
    c.t += 8_000;
    expect(await tryOnce()).toBe("ok");
  });

  it.each([
    ["HTTP status", "error", /answered HTTP 503/],
    ["timeout", "hang", /\(timeout: request to 127\.0\.0\.1 timed out\)/],
    ["refused connection", "refuse", /\(network: request to 127\.0\.0\.1 failed\)/],
  ] as const)("says what went wrong in the error's message: %s", async (_, mode, cause) => {
    const server = await startLoopbackServer((_req, res) => res.end("{}"));
    loopbacks.push(server);
    await server.setDown(true, mode);
    const cache = createJwksCache({ fetch: createSafeFetch({ allowPrivate: true, timeoutMs: 300 }) });
    const error = await cache.getKey(`${server.origin}/certs`, { kid: "k", alg: "RS256" }).catch((e) => e);
    expect(error).toBeInstanceOf(JwksUnavailableError);
    expect((error as Error).message).toMatch(/^the JWKS of 127\.0\.0\.1:\d+ could not be downloaded \(/);
    expect((error as Error).message).toMatch(cause);
  });

  it.each([
    [
      "too large",
      { "content-type": "application/json" },
      JSON.stringify({ keys: [], pad: "x".repeat(5_000) }),
      /\(too_large: response from 127\.0\.0\.1 exceeds 1000 bytes\)/,
    ],
    ["not JSON", { "content-type": "text/html" }, "<html>maintenance</html>", /did not return JSON\)$/],
    [
      "not a JWK Set",
      { "content-type": "application/json" },
      JSON.stringify({ hello: "world" }),
      /did not return a JWK Set\)$/,
    ],
  ])("says what went wrong in the error's message: %s", async (_, headers, body, cause) => {
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, headers);
      res.end(body);
    });
    loopbacks.push(server);
    const cache = createJwksCache({ fetch: createSafeFetch({ allowPrivate: true, maxBytes: 1_000 }) });
    const error = await cache.getKey(`${server.origin}/certs`, { kid: "k", alg: "RS256" }).catch((e) => e);
    expect(error).toBeInstanceOf(JwksUnavailableError);
    expect((error as Error).message).toMatch(cause);
  });

  it("does not hammer the IdP under a flood of tokens with random kids", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, cooldownMs: 30_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    c.t += 31_000;

    const flood = Array.from({ length: 100 }, () =>
      cache.getKey(server.url, { kid: randomUUID(), alg: "RS256" }),
    );
    const results = await Promise.allSettled(flood);
    expect(
      results.every((r) => r.status === "rejected" && r.reason instanceof errors.JWKSNoMatchingKey),
    ).toBe(true);
    expect(server.hits).toBeLessThanOrEqual(2);

    for (let i = 0; i < 100; i++) {
      await expect(cache.getKey(server.url, { kid: randomUUID(), alg: "RS256" })).rejects.toThrow();
    }
    expect(server.hits).toBeLessThanOrEqual(2);
    // The known key still works throughout.
    await expect(cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).resolves.toBeDefined();
  });

  it("ignores encryption keys and keys whose type does not fit the alg", async () => {
    const encOnly = { ...rsa2.jwk, use: "enc" };
    const server = await startJwksServer([rsa1.jwk, encOnly, ec1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    // ec-1 is an EC key: it cannot serve an RS256 token even with the right kid.
    await expect(cache.getKey(server.url, { kid: "ec-1", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    await expect(cache.getKey(server.url, { kid: "ec-1", alg: "ES256" })).resolves.toBeDefined();
  });

  it("ignores symmetric and private key material published in a JWKS", async () => {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const leakedPrivate = { ...(await exportJWK(privateKey)), kid: "leaked", alg: "RS256" };
    const oct = { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", kid: "hmac", alg: "HS256" };
    const server = await startJwksServer([leakedPrivate, oct, "not-a-key", rsa1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await expect(cache.getKey(server.url, { kid: "leaked", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    await expect(cache.getKey(server.url, { kid: "hmac", alg: "HS256" })).rejects.toThrow();
    await expect(cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).resolves.toBeDefined();
  });

  it("fails closed when the server is down and nothing is cached, without retrying inside the backoff", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const url = server.url;
    await server.close();
    let attempts = 0;
    const counting = (input: string, init?: RequestInit) => {
      attempts++;
      return safeFetch(input, init);
    };
    const c = clock();
    const cache = createJwksCache({ fetch: counting, now: c.now, cooldownMs: 30_000 });
    await expect(cache.getKey(url, { kid: "rsa-1", alg: "RS256" })).rejects.toBeInstanceOf(
      JwksUnavailableError,
    );
    await expect(cache.getKey(url, { kid: "rsa-1", alg: "RS256" })).rejects.toBeInstanceOf(
      JwksUnavailableError,
    );
    expect(attempts).toBe(1);
    c.t += 30_000;
    await expect(cache.getKey(url, { kid: "rsa-1", alg: "RS256" })).rejects.toBeInstanceOf(
      JwksUnavailableError,
    );
    expect(attempts).toBe(2);
  });

  it.each([
    ["an HTTP error", 500, { keys: [] }],
    ["a non-JWKS document", 200, { hello: "world" }],
    ["a non-object", 200, "keys"],
  ])("fails closed on %s", async (_, status, body) => {
    const server = await startJwksServer([]);
    server.status = status;
    server.body = body;
    const cache = createJwksCache({ fetch: safeFetch });
    const error = await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JwksUnavailableError);
    expect((error as Error).message).not.toContain("/certs");
  });

  it("refreshes after maxAge and keeps serving stale keys while the IdP is down", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, maxAgeMs: 600_000, cooldownMs: 30_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    c.t += 600_000;
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    expect(server.hits).toBe(2);

    server.status = 503;
    c.t += 600_000;
    await expect(cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).resolves.toBeDefined();
    expect(server.hits).toBe(3);
  });

  it("drops removed keys after a refresh", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const c = clock();
    const cache = createJwksCache({ fetch: safeFetch, now: c.now, maxAgeMs: 600_000 });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    server.body = { keys: [rsa2.jwk] };
    c.t += 600_000;
    await expect(cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
  });

  it("invalidate forgets a URL", async () => {
    const server = await startJwksServer([rsa1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    cache.invalidate(server.url);
    await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    expect(server.hits).toBe(2);
  });

  it("keeps URLs apart", async () => {
    const a = await startJwksServer([rsa1.jwk]);
    const b = await startJwksServer([rsa2.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    await cache.getKey(a.url, { kid: "rsa-1", alg: "RS256" });
    await expect(cache.getKey(b.url, { kid: "rsa-1", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    await expect(cache.getKey(b.url, { kid: "rsa-2", alg: "RS256" })).resolves.toBeDefined();
  });

  it("refuses a blocked JWKS URL through the safe fetch (fail closed)", async () => {
    const cache = createJwksCache({ fetch: createSafeFetch({ allowPrivate: false }) });
    const error = await cache
      .getKey("https://169.254.169.254/certs", { kid: "x", alg: "RS256" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(JwksUnavailableError);
    expect((error as Error & { cause: { code: string } }).cause.code).toBe("blocked_address");
  });

  it("serves each key as one node:crypto KeyObject, made once per download", async () => {
    const server = await startJwksServer([rsa1.jwk, ec1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch });
    const first = await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" });
    expect(first).toBeInstanceOf(KeyObject);
    expect(first.type).toBe("public");
    expect(first.export({ format: "jwk" })).toEqual({ kty: "RSA", n: rsa1.jwk.n, e: rsa1.jwk.e });
    expect(await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" })).toBe(first);
    expect(server.hits).toBe(1);
  });

  it("selects by curve, the member's alg, use and key_ops, and refuses several matches without kid", async () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const realP384 = { ...publicKey.export({ format: "jwk" }), kid: "p384" };
    const pinnedToPs = { ...rsa2.jwk, alg: "PS256" };
    const encryptOnly = { ...rsa3.jwk, alg: undefined, use: undefined, key_ops: ["encrypt"] };
    const server = await startJwksServer([realP384, pinnedToPs, encryptOnly, rsa1.jwk]);
    const cache = createJwksCache({ fetch: safeFetch, cooldownMs: 0, retryMs: 0 });
    // a P-384 key cannot serve ES256 (RFC 7518 §3.4), only ES384
    await expect(cache.getKey(server.url, { kid: "p384", alg: "ES256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    await expect(cache.getKey(server.url, { kid: "p384", alg: "ES384" })).resolves.toBeInstanceOf(KeyObject);
    // a member that says alg PS256 does not serve RS256; one whose key_ops lack verify serves nothing
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    await expect(cache.getKey(server.url, { kid: "rsa-2", alg: "PS256" })).resolves.toBeInstanceOf(KeyObject);
    await expect(cache.getKey(server.url, { kid: "rsa-3", alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
    // without kid: rsa-1 alone fits RS256 (rsa-2 is PS256-only, rsa-3 encrypt-only) → that one
    await expect(cache.getKey(server.url, { alg: "RS256" })).resolves.toBe(
      await cache.getKey(server.url, { kid: "rsa-1", alg: "RS256" }),
    );
    // without kid and two fitting keys: exactly one must match
    const two = await startJwksServer([rsa1.jwk, { ...rsa2.jwk, alg: undefined }]);
    await expect(cache.getKey(two.url, { alg: "RS256" })).rejects.toBeInstanceOf(
      errors.JWKSMultipleMatchingKeys,
    );
  });
});
