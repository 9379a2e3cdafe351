/** Cloudflare Access sign-in (SPEC §5): filled in by the Cloudflare work. */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import type { Guards } from "../http/request-context.js";

export function cloudflareRoutes(_ctx: AppContext, _guards: Guards) {
  return async (_app: FastifyInstance) => {};
}
