/**
 * The login side of an oidc-provider instance run on loopback: a real HTML login form, "Cancel", and
 * automatic consent. Shared by the test IdP (`idp.ts`) and the demo's IdP (`demo/idp.ts`), which differ
 * only in how the page looks and who may sign in.
 */
import type http from "node:http";
import type { default as ProviderClass } from "oidc-provider";

export type InteractionDetails = Awaited<ReturnType<ProviderClass["interactionDetails"]>>;

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.end(html);
}

/** A whole HTML page; `style` is inlined CSS (none by default). */
export function page(title: string, body: string, style = ""): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>${style ? `\n<style>${style}</style>` : ""}
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface LoginInteractionOptions {
  /** The current provider (the test IdP rebuilds it when its client changes). */
  provider: () => ProviderClass;
  /** Path prefix of the interaction URLs, e.g. `/interaction/`. */
  prefix: string;
  /** The login form page; it posts `login` and `password` to `<prefix><uid>` and has a form to `<prefix><uid>/abort`. */
  loginPage(uid: string, clientId: string, error?: string, login?: string): string;
  /** The account id for these credentials, or undefined when they are wrong. */
  authenticate(login: string, password: string): string | undefined;
  /** Shown above the form after wrong credentials. */
  invalidMessage: string;
  /** The `error_description` sent back to the client when the person cancels. */
  abortDescription: string;
  /** Page style for the error pages. */
  style?: string;
}

/**
 * Grants the requested scopes (and claims of the `claims` parameter) to the client for this account
 * and finishes the interaction: the consent is given without asking.
 */
async function grantAndFinish(
  provider: ProviderClass,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  accountId: string,
  details: InteractionDetails,
): Promise<void> {
  const clientId = String(details.params.client_id);
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (grant && grant.accountId !== accountId) grant = undefined;
  grant ??= new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(typeof details.params.scope === "string" ? details.params.scope : "openid");
  const requestedClaims = new Set<string>();
  if (typeof details.params.claims === "string") {
    try {
      const parsed = JSON.parse(details.params.claims) as Record<string, Record<string, unknown> | undefined>;
      for (const part of [parsed.id_token, parsed.userinfo]) {
        for (const name of Object.keys(part ?? {})) requestedClaims.add(name);
      }
    } catch {
      // oidc-provider already rejected malformed claims parameters
    }
  }
  if (requestedClaims.size) grant.addOIDCClaims(requestedClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

/** Handles `GET|POST <prefix><uid>` and `POST <prefix><uid>/abort`. */
export function loginInteractions(options: LoginInteractionOptions) {
  const errorPage = (message: string) =>
    page("Sign-in error", `<h1>Sign-in error</h1><p>${escapeHtml(message)}</p>`, options.style);

  return async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> => {
    const provider = options.provider();
    const [uid, action] = pathname.slice(options.prefix.length).split("/");
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (error) {
      sendHtml(res, 400, errorPage(error instanceof Error ? error.message : String(error)));
      return;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, errorPage("This sign-in expired (interaction mismatch)."));
      return;
    }
    const clientId = String(details.params.client_id);

    if (req.method === "GET") {
      // Already signed in here, only consent missing: grant it right away.
      if (details.prompt.name === "consent" && details.session?.accountId) {
        await grantAndFinish(provider, req, res, details.session.accountId, details);
        return;
      }
      sendHtml(res, 200, options.loginPage(details.uid, clientId));
      return;
    }
    if (req.method !== "POST") {
      res.statusCode = 405;
      res.end();
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    if (action === "abort") {
      await provider.interactionFinished(
        req,
        res,
        { error: "access_denied", error_description: options.abortDescription },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const login = form.get("login") ?? "";
    const accountId = options.authenticate(login, form.get("password") ?? "");
    if (!accountId) {
      sendHtml(res, 200, options.loginPage(details.uid, clientId, options.invalidMessage, login));
      return;
    }
    await grantAndFinish(provider, req, res, accountId, details);
  };
}
