/** The SSO buttons of an agency's login page: its enabled connections, while SSO is on. */
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { ssoLive } from "../sso/connections.js";

export async function listSignInConnections(
  ctx: AppContext,
  agency: Agency,
): Promise<Array<{ id: string; name: string; type: string }>> {
  if (!ssoLive(agency)) return [];
  return ctx.db
    .selectFrom("sso_connections")
    .select(["id", "name", "type"])
    .where("agency_id", "=", agency.id)
    .where("enabled", "=", true)
    .orderBy("created_at")
    .execute();
}
