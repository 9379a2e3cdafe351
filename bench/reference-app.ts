/**
 * The reference for the SSO sign-in benchmark: OpenID Connect sign-in built the way most Node
 * applications do it — Express 5, express-session with its default MemoryStore, openid-client v6
 * (discovery once at start, PKCE + nonce + state kept in the session, the code grant, user-info,
 * session regeneration on sign-in). It does what CoPilot's callback does at the IdP (token + user-info
 * calls), but keeps the signed-in person in process memory and trusts the ID token it got over the
 * back channel without checking its signature (openid-client's default for the code flow).
 *
 *   GET /login      → 302 to the IdP
 *   GET /callback   → code grant → user-info → new session → 302 /
 *   GET /me         → the session's person (401 without one)
 */
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import session from "express-session";
import * as client from "openid-client";

declare module "express-session" {
  interface SessionData {
    oidc?: { codeVerifier: string; nonce: string; state: string };
    user?: { sub: string; email: string | undefined; name: string | undefined };
  }
}

export interface ReferenceAppOptions {
  discoveryUrl: string;
  clientId: string;
  clientSecret: string;
  port?: number;
}

export interface ReferenceApp {
  origin: string;
  port: number;
  close(): Promise<void>;
}

export async function startReferenceApp(options: ReferenceAppOptions): Promise<ReferenceApp> {
  const config = await client.discovery(
    new URL(options.discoveryUrl),
    options.clientId,
    options.clientSecret,
    undefined,
    { execute: [client.allowInsecureRequests] }, // the benchmark IdP is plain http on loopback
  );

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

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port ?? 0, "127.0.0.1", (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 30_000;
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  redirectUri = `${origin}/callback`;
  return {
    origin,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
