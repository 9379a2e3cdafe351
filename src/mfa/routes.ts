/** Two-factor authentication routes (SPEC §6): filled in by the 2FA work. */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import type { Guards } from "../http/request-context.js";

export function mfaRoutes(_ctx: AppContext, _guards: Guards) {
  return async (_app: FastifyInstance) => {};
}
