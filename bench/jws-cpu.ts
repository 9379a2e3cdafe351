/**
 * CPU per ID token verification, in one process, one at a time: `verifyIdToken` (jws.ts, node:crypto's
 * synchronous `crypto.verify` on the JWKS cache's KeyObject, then our claim checks) against what it
 * did before (jose 6's `jwtVerify` over `createLocalJWKSet`, WebCrypto: an asynchronous job per
 * signature), same token, same key set, same claim rules. Not part of `npm run bench`'s tables.
 *
 *   node --import tsx bench/jws-cpu.ts            N=5000 ROUNDS=5 ALGS=RS256,ES256
 */
import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, exportJWK, type JWK, jwtVerify, SignJWT } from "jose";
import type { AppContext } from "../src/context.js";
import { createJwksCache } from "../src/sso/jwks.js";
import { type Provider, verifyIdToken } from "../src/sso/oidc.js";

const N = Number(process.env.N ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ALGS = (process.env.ALGS ?? "RS256,ES256").split(",");
const ISSUER = "https://idp.bench.example";
const CLIENT_ID = "bench-client";
const JWKS_URI = `${ISSUER}/jwks`;
const NONCE = "bench-nonce";

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function measure(n: number, verify: () => Promise<unknown>): Promise<number> {
  const t = cpu();
  for (let i = 0; i < n; i++) await verify();
  return (cpu() - t) / n;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const alg of ALGS) {
  const pair =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: "bench-key", alg, use: "sig" };
  const jwks = { keys: [jwk] };
  const token = await new SignJWT({ nonce: NONCE, email: "user@bench.example" })
    .setProtectedHeader({ alg, kid: "bench-key" })
    .setIssuer(ISSUER)
    .setAudience(CLIENT_ID)
    .setSubject("user-1")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(pair.privateKey);

  // What verifyIdToken reads of the application context, the provider and the row: the rest of
  // those types (database, discovery configuration) plays no part in the measured function.
  const ctx = {
    now: () => new Date(),
    jwks: createJwksCache({ fetch: async () => Response.json(jwks) }),
  } as unknown as AppContext;
  const provider = {
    issuer: ISSUER,
    jwksUri: JWKS_URI,
    algorithms: [alg],
    requiredClaims: [],
  } as unknown as Provider;
  const row = { client_id: CLIENT_ID } as Parameters<typeof verifyIdToken>[2];
  const flow = { nonce: NONCE, flowStartedAt: Date.now() };

  const localSet = createLocalJWKSet(jwks);
  const ours = () => verifyIdToken(ctx, provider, row, token, flow);
  const jose = () =>
    jwtVerify(token, localSet, {
      algorithms: [alg],
      issuer: ISSUER,
      audience: CLIENT_ID,
      clockTolerance: 60,
      currentDate: new Date(),
      requiredClaims: ["sub", "iat", "exp"],
    });
  await measure(500, ours); // warm-up (JIT, the JWKS download, jose's CryptoKey import)
  await measure(500, jose);
  const results = { ours: [] as number[], jose: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    // Interleaved, the order alternating per round.
    const order = round % 2 ? (["ours", "jose"] as const) : (["jose", "ours"] as const);
    for (const which of order) results[which].push(await measure(N, which === "ours" ? ours : jose));
  }
  const o = median(results.ours);
  const j = median(results.jose);
  console.log(
    `${alg}: verifyIdToken (node:crypto) ${o.toFixed(1)} µs, jose jwtVerify ${j.toFixed(1)} µs CPU per verification (median of ${ROUNDS} × ${N}; ratio ${(o / j).toFixed(2)})`,
  );
}
