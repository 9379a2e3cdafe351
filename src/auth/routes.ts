/**
 * Password sign-in, sign-out, "who am I", the login page's methods, and home-realm discovery
 * (SPEC §2, §11). Hide-other-methods is enforced here, server-side, with the audited
 * break-glass path for agency admins.
 */

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { type Agency, agencyApi, agencyOrigin } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { AppContext } from "../context.js";
import { inTransaction } from "../db/transaction.js";
import { readCookie } from "../http/cookies.js";
import { AppError, notFound } from "../http/errors.js";
import { noContent, sendSerialized } from "../http/replies.js";
import { type Guards, requestOrigin } from "../http/request-context.js";
import { ErrorResponse, UserSchema } from "../http/schemas.js";
import { LIMITS, reserve, reset } from "../http/throttle.js";
import { cancelChallenge } from "../mfa/challenges.js";
import { revokeSession } from "../sessions/sessions.js";
import { clearSignInCookies, completeSignIn } from "../sessions/sign-in.js";
import { safeReturnTo } from "../shared/return-to.js";
import { otherMethodsHidden } from "../sso/connections.js";
import { findUserByEmail, type User, userApi, verifyPassword } from "../users/users.js";
import { listSignInConnections } from "./methods.js";

export const INVALID_CREDENTIALS = "Invalid email or password";

export function authRoutes(ctx: AppContext, guards: Guards) {
  return async (instance: FastifyInstance) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      "/api/auth/methods",
      {
        schema: {
          tags: ["auth"],
          summary: "The sign-in methods of this host's agency",
          response: {
            200: Type.Object({
              agency: Type.Union([Type.Object({ name: Type.String(), slug: Type.String() }), Type.Null()]),
              homeRealmDiscovery: Type.Boolean(),
              password: Type.Boolean(),
              google: Type.Boolean(),
              sso: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), type: Type.String() })),
              hideOtherLoginMethods: Type.Boolean(),
            }),
            404: ErrorResponse,
          },
        },
      },
      async (request) => {
        const agency = request.agency;
        if (!agency) {
          if (request.hostname.toLowerCase() !== ctx.config.publicUrl.hostname.toLowerCase()) {
            throw notFound("No agency is configured for this host");
          }
          return {
            agency: null,
            homeRealmDiscovery: true,
            password: false,
            google: false,
            sso: [],
            hideOtherLoginMethods: false,
          };
        }
        const sso = await listSignInConnections(ctx, agency);
        const hide = otherMethodsHidden(agency) && sso.length > 0;
        return {
          agency: { name: agency.name, slug: agency.slug },
          homeRealmDiscovery: false,
          password: !hide,
          google: !hide && ctx.config.googleClientId !== null,
          sso,
          hideOtherLoginMethods: hide,
        };
      },
    );

    app.post(
      "/api/auth/lookup",
      {
        schema: {
          tags: ["auth"],
          summary: "Home-realm discovery: which agency host to continue signing in on",
          body: Type.Object(
            { email: Type.String({ format: "email", maxLength: 320 }) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ url: Type.String() }), 429: ErrorResponse },
        },
      },
      async (request) => {
        // Per IP, so the lookup cannot be used to sweep a list of addresses.
        await reserve(ctx, [[`lookup:ip:${request.ip}`, LIMITS.lookupPerIp]]);
        const { email } = request.body;
        const domain = await agencyDomainForEmail(ctx, email);
        const target = domain
          ? agencyOrigin(domain, { protocol: `${request.protocol}:`, port: portOf(request.host) })
          : `${request.protocol}://${request.host}`;
        const url = new URL("/login", target);
        url.searchParams.set("email", email);
        if (!domain) url.searchParams.set("method", "password");
        return { url: url.toString() };
      },
    );

    app.post(
      "/api/auth/login",
      {
        schema: {
          tags: ["auth"],
          summary: "Sign in with email and password",
          body: Type.Object(
            {
              email: Type.String({ maxLength: 320 }),
              password: Type.String({ maxLength: 512 }),
              breakGlass: Type.Optional(Type.Boolean()),
              returnTo: Type.Optional(Type.String({ maxLength: 2048 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              user: Type.Optional(UserSchema),
              mfaRequired: Type.Optional(Type.Boolean()),
              mfaEnrollmentRequired: Type.Optional(Type.Boolean()),
            }),
            401: ErrorResponse,
            403: ErrorResponse,
            404: ErrorResponse,
            429: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const agency = await guards.requireAgency(request);
        const body = request.body;
        const email = body.email.trim().toLowerCase();
        const ipKey = `signin:ip:${request.ip}`;
        const accountKey = `signin:account:${agency.id}:${email}`;
        // Counted before anything is verified: a burst of parallel attempts cannot outrun the
        // limits (the account's counter is reset by a successful sign-in).
        await reserve(ctx, [
          [ipKey, LIMITS.signInPerIp],
          [accountKey, LIMITS.signInPerAccount],
        ]);

        const row = await findUserByEmail(ctx.db, agency.id, email);
        // Hide other login methods (SPEC §2): password sign-in is refused for the agency's users,
        // except the break-glass sign-in of an agency admin, which is always audited. Decided
        // before the password is looked at, so the refusal is the same for a right password, a
        // wrong one and an unknown email: the form confirms nothing.
        const hidden = otherMethodsHidden(agency);
        const breakGlass = hidden && body.breakGlass === true;
        if (hidden && !breakGlass) {
          ctx.metrics.signIn("password", "refused");
          await audit(ctx.db, {
            agencyId: agency.id,
            action: "auth.sign_in",
            outcome: "failure",
            actor: row ? { type: "user", id: row.id, label: row.email } : { type: "anonymous", label: email },
            target: row ? { type: "user", id: row.id } : null,
            ip: request.ip,
            details: {
              method: "password",
              cause: "password sign-in is hidden: the agency signs in with SSO",
            },
          });
          throw new AppError(
            403,
            "method_disabled",
            "Your organization signs in with SSO. Please use the SSO button.",
          );
        }

        // The password is checked for everyone (a dummy hash for an unknown email), and a
        // break-glass sign-in of someone who is not an agency admin fails like a wrong password:
        // the answer tells neither whether the password was right nor who is an admin.
        const ok = await verifyPassword(row?.password_hash ?? null, body.password);
        const notAdmin = breakGlass && row?.role !== "admin";
        if (!row || !ok || notAdmin) {
          ctx.metrics.signIn("password", "failure");
          await audit(ctx.db, {
            agencyId: agency.id,
            action: "auth.sign_in",
            outcome: "failure",
            actor: { type: "anonymous", label: email },
            target: row ? { type: "user", id: row.id } : null,
            ip: request.ip,
            details: {
              method: breakGlass ? "break-glass" : "password",
              cause: !row
                ? "no such user"
                : !ok
                  ? "wrong password"
                  : "break-glass sign-in is for agency admins only",
            },
          });
          throw new AppError(401, "invalid_credentials", INVALID_CREDENTIALS);
        }

        let method: "password" | "break-glass" = "password";
        if (breakGlass) {
          method = "break-glass";
        }
        await reset(ctx, accountKey);
        // A break-glass record commits with the sign-in it allowed.
        const outcome = await inTransaction(ctx, async (tx) => {
          if (method === "break-glass") {
            await audit(tx.db, {
              agencyId: agency.id,
              action: "auth.break_glass",
              actor: { type: "user", id: row.id, label: row.email },
              ip: request.ip,
              details: { note: "password sign-in while other login methods are hidden" },
            });
          }
          return completeSignIn(tx, request, reply, {
            agency,
            userId: row.id,
            method,
            returnTo: safeReturnTo(body.returnTo, requestOrigin(request)),
          });
        });
        switch (outcome.kind) {
          case "session":
            return { user: userApi(outcome.user) };
          case "mfa":
            return { mfaRequired: true };
          case "enroll":
            return { mfaEnrollmentRequired: true };
          case "refused":
            throw new AppError(
              403,
              "not_authorized",
              "You are not authorized to access this account. Please contact your admin.",
            );
        }
      },
    );

    app.post(
      "/api/auth/logout",
      {
        schema: {
          tags: ["auth"],
          summary: "Sign out (ends this session and any pending 2FA sign-in of this browser)",
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const token = readCookie(request, "session");
        if (token) await guards.loadSession(request);
        // What ends and the records saying so commit together.
        await inTransaction(ctx, async (tx) => {
          if (token) {
            await revokeSession(tx.db, token);
            if (request.auth) {
              await audit(tx.db, {
                agencyId: request.auth.user.agencyId,
                action: "auth.sign_out",
                actor: { type: "user", id: request.auth.user.id, label: request.auth.user.email },
                ip: request.ip,
              });
            }
          }
          // A sign-in waiting for its second factor in this browser ends too: its stored challenge
          // is removed, not just its cookie, so a kept copy of the cookie cannot finish it.
          const pending = await cancelChallenge(tx, request);
          if (pending) {
            const who = await tx.db
              .selectFrom("users")
              .select("email")
              .where("id", "=", pending.userId)
              .executeTakeFirst();
            await audit(tx.db, {
              agencyId: pending.agencyId,
              action: "auth.sign_in_cancelled",
              actor: { type: "user", id: pending.userId, label: who?.email ?? null },
              target: { type: "user", id: pending.userId },
              ip: request.ip,
              details: {
                method: pending.method,
                pending: pending.purpose,
                cause: "signed out before the second factor",
              },
            });
          }
        });
        clearSignInCookies(reply, request);
        noContent(reply);
      },
    );

    app.get(
      "/api/auth/me",
      {
        preHandler: guards.requireSession,
        schema: {
          tags: ["auth"],
          summary: "Who am I",
          response: {
            200: Type.Object({
              user: UserSchema,
              agency: Type.Object({
                id: Type.String(),
                name: Type.String(),
                slug: Type.String(),
                plan: Type.String(),
                domain: Type.Union([Type.String(), Type.Null()]),
              }),
            }),
            401: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const { user, agency } = await guards.requireSession(request);
        // The read caches hand out frozen users and agencies and replace them (never change them)
        // when they change: the same pair always gives the same bytes, serialised once.
        let cached = meBodies.get(user);
        if (cached?.agency !== agency) {
          const body = reply.serializeInput(
            { user: userApi(user), agency: agencyApi(agency) },
            "200",
          ) as string;
          cached = { agency, body };
          meBodies.set(user, cached);
        }
        sendSerialized(reply, cached.body);
      },
    );
  };
}

/** /api/auth/me's serialised body per cached user (and the agency it was made for). */
const meBodies = new WeakMap<User, { agency: Agency; body: string }>();

function portOf(host: string): string {
  const m = /:(\d+)$/.exec(host);
  return m ? m[1]! : "";
}

/**
 * Home-realm discovery without enumeration: an email known in exactly one agency goes there;
 * otherwise its domain decides (the agency most of whose users share it), so an unknown address
 * at acme.com goes to the same place as a known one. Both queries run for every email, known or
 * not, so the work (and the time) does not tell which emails exist.
 */
async function agencyDomainForEmail(ctx: AppContext, email: string): Promise<string | null> {
  const at = email.lastIndexOf("@");
  const emailDomain = email.slice(at + 1).toLowerCase();
  const [exact, byDomain] = await Promise.all([
    ctx.db
      .selectFrom("users")
      .innerJoin("agencies", "agencies.id", "users.agency_id")
      .select("agencies.domain")
      .where((eb) => eb(eb.fn("lower", ["users.email"]), "=", email.toLowerCase()))
      .where("agencies.domain", "is not", null)
      .limit(2)
      .execute(),
    ctx.db
      .selectFrom("users")
      .innerJoin("agencies", "agencies.id", "users.agency_id")
      .select(["agencies.domain", (eb) => eb.fn.countAll<number>().as("n")])
      .where((eb) =>
        eb(eb.fn("lower", ["users.email"]), "like", `%@${emailDomain.replace(/[\\%_]/g, "\\$&")}`),
      )
      .where("agencies.domain", "is not", null)
      .groupBy("agencies.domain")
      .orderBy("n", "desc")
      .limit(2)
      .execute(),
  ]);
  if (exact.length === 1) return exact[0]!.domain;
  if (byDomain.length === 0) return null;
  if (byDomain.length === 2 && Number(byDomain[0]!.n) === Number(byDomain[1]!.n)) return null;
  return byDomain[0]!.domain;
}
