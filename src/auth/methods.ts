/** The SSO buttons of an agency's login page: its enabled connections, while SSO is on. */
import type { Agency } from "../agencies/agencies.js";
import type { AppContext } from "../context.js";
import { agencyConnections, ssoLive } from "../sso/connections.js";

export async function listSignInConnections(
  ctx: AppContext,
  agency: Agency,
): Promise<Array<{ id: string; name: string; type: string }>> {
  if (!ssoLive(agency)) return [];
  const rows = await agencyConnections(ctx, agency.id);
  return rows.filter((r) => r.enabled).map((r) => ({ id: r.id, name: r.name, type: r.type }));
}
