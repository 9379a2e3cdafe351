// The reference for the SSO sign-in benchmark, run the way its users run it: plain JavaScript,
// `NODE_ENV=production node bench/reference-app.mjs`, no loader, nothing in its process but the app
// (run.ts reads its CPU time and memory from /proc). OpenID Connect sign-in built the way most Node
// applications do it — Express 5, express-session with its default MemoryStore, openid-client v6
// (discovery once at start, PKCE + nonce + state kept in the session, the code grant, user-info,
// session regeneration on sign-in). It does what CoPilot's callback does at the IdP (token + user-info
// calls), but keeps the signed-in person in process memory and trusts the ID token it got over the
// back channel without checking its signature (openid-client's default for the code flow).
//
//   GET /login      → 302 to the IdP
//   GET /callback   → code grant → user-info → new session → 302 /
//   GET /me         → the session's person (401 without one)
//
// Configuration: REF_DISCOVERY_URL, REF_CLIENT_ID, REF_CLIENT_SECRET (environment). When it listens it
// writes one JSON line to stdout: {"origin": "http://127.0.0.1:<port>", "port": <port>}. SIGTERM stops it.
import { randomBytes } from "node:crypto";
import process from "node:process";
import express from "express";
import session from "express-session";
import * as client from "openid-client";

const discoveryUrl = process.env.REF_DISCOVERY_URL;
const clientId = process.env.REF_CLIENT_ID;
const clientSecret = process.env.REF_CLIENT_SECRET;
if (!discoveryUrl || !clientId || !clientSecret) {
  process.stderr.write(
    "reference-app: REF_DISCOVERY_URL, REF_CLIENT_ID and REF_CLIENT_SECRET are required\n",
  );
  process.exit(2);
}

const config = await client.discovery(new URL(discoveryUrl), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests], // the benchmark IdP is plain http on loopback
});

const app = express();
app.disable("x-powered-by");
app.use(
  session({
    secret: randomBytes(32).toString("hex"),
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: "lax" },
  }),
);

let redirectUri = "";

app.get("/login", async (req, res, next) => {
  try {
    const codeVerifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    req.session.oidc = { codeVerifier, nonce, state };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid profile email",
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      nonce,
      state,
    });
    res.redirect(302, url.href);
  } catch (err) {
    next(err);
  }
});

app.get("/callback", async (req, res, next) => {
  try {
    const pending = req.session.oidc;
    if (!pending) {
      res.status(400).send("no sign-in in progress");
      return;
    }
    const tokens = await client.authorizationCodeGrant(config, new URL(req.originalUrl, redirectUri), {
      pkceCodeVerifier: pending.codeVerifier,
      expectedNonce: pending.nonce,
      expectedState: pending.state,
    });
    const claims = tokens.claims();
    if (!claims) throw new Error("no ID token");
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    // A new session id on sign-in (session fixation), with the person in it.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = {
        sub: claims.sub,
        email: typeof info.email === "string" ? info.email : undefined,
        name: typeof info.name === "string" ? info.name : undefined,
      };
      res.redirect(302, "/");
    });
  } catch (err) {
    next(err);
  }
});

app.get("/me", (req, res) => {
  if (!req.session.user) {
    res.status(401).json({ error: "unauthorized" });
    return;
  }
  res.json({ user: req.session.user });
});

const server = await new Promise((resolve, reject) => {
  const s = app.listen(0, "127.0.0.1", (err) => (err ? reject(err) : resolve(s)));
});
server.keepAliveTimeout = 30_000;
const { port } = server.address();
const origin = `http://127.0.0.1:${port}`;
redirectUri = `${origin}/callback`;
process.stdout.write(`${JSON.stringify({ origin, port })}\n`);

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
