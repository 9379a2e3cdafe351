/** Integration tokens and the provisioning API (SPEC §8): filled in by the provisioning work. */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import type { Guards } from "../http/request-context.js";

export function provisioningRoutes(_ctx: AppContext, _guards: Guards) {
  return async (_app: FastifyInstance) => {};
}
