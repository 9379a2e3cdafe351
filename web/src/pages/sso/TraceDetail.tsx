import { Card } from "../../components/Card.js";
import { Details } from "../../components/Details.js";
import { Loadable } from "../../components/Loadable.js";
import { SettingsPage } from "../../components/PageHeader.js";
import { formatDateTime } from "../../format.js";
import { useApi } from "../../hooks.js";
import { Link, traceIdOf, useLocation, withQuery } from "../../router.js";
import type { Trace } from "../../types.js";
import type { KindDescription } from "./model.js";
import { ClaimNames, stepLabel } from "./TestResult.js";
import { OutcomeBadge, purposeLabel } from "./TracesCard.js";

const MESSAGE_LABELS: Record<string, string> = {
  authorization_request: "Authorization request",
  callback: "Callback from the identity provider",
  token_response: "Token response",
  id_token: "ID token",
  userinfo_response: "User-info response",
  cloudflare_assertion: "Cloudflare Access assertion",
  saml_authn_request: "SAML authentication request",
  saml_response: "SAML response",
};

function messageLabel(name: string): string {
  return MESSAGE_LABELS[name] ?? name;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** `/settings/sso/traces/<id>`: one SSO attempt with its redacted protocol messages (SPEC §17). */
export function TraceDetailPage() {
  const { pathname } = useLocation();
  const id = traceIdOf(pathname);
  const trace = useApi<{ trace: Trace }>(id ? `/api/admin/sso/traces/${encodeURIComponent(id)}` : null);
  const kinds = useApi<{ kinds: KindDescription[] }>("/api/admin/sso/kinds");

  return (
    <SettingsPage
      title="Sign-in attempt"
      description="What happened during one SSO sign-in or test. Secrets, tokens, signatures and personal values are redacted."
      actions={<Link to="/settings/sso">Back to Single Sign-On</Link>}
    >
      <Loadable
        resource={trace}
        loadingLabel="Loading the sign-in attempt…"
        errorTitle="Couldn't load the sign-in attempt"
      >
        {({ trace: t }) => (
          <TraceView
            trace={t}
            kindLabel={kinds.data?.kinds.find((k) => k.type === t.kind)?.label ?? t.kind}
          />
        )}
      </Loadable>
    </SettingsPage>
  );
}

function TraceView({ trace: t, kindLabel }: { trace: Trace; kindLabel: string }) {
  return (
    <>
      <Card title="Summary">
        <Details
          items={[
            { term: "When", value: <time dateTime={t.startedAt}>{formatDateTime(t.startedAt)}</time> },
            {
              term: "Type",
              value: (
                <span>
                  {purposeLabel(t.purpose)}
                  {t.testId ? (
                    <>
                      {" · "}
                      <Link to={withQuery("/settings/sso", { test: t.testId })}>Test result</Link>
                    </>
                  ) : null}
                </span>
              ),
            },
            {
              term: "Connection type",
              value: kindLabel,
            },
            { term: "Outcome", value: <OutcomeBadge outcome={t.outcome} /> },
            ...(t.message
              ? [{ term: "Message", value: <span className="test-message">{t.message}</span> }]
              : []),
            {
              term: t.outcome === "failure" ? "Failed step" : "Last step",
              value: (
                <span>
                  {stepLabel(t.step)}
                  {t.code ? <span className="cell-sub mono">{t.code}</span> : null}
                </span>
              ),
            },
            ...(t.cause ? [{ term: "Cause", value: t.cause }] : []),
            { term: "Duration", value: duration(t.durationMs) },
            {
              term: "Matched user",
              value: t.user ? t.user.email : <span className="muted">None</span>,
            },
            { term: "Claims received", value: <ClaimNames names={t.claimNames} /> },
          ]}
        />
      </Card>
      <Card
        title="Protocol messages"
        description="As exchanged with the identity provider, with every secret, token, signature and personal value redacted."
      >
        {t.messages.length === 0 ? (
          <p className="muted">No protocol message was recorded for this attempt.</p>
        ) : (
          <ol className="trace-messages">
            {t.messages.map((m, i) => (
              <li key={`${m.name}-${i}`} className="trace-message">
                <h3 className="trace-message-title">
                  {messageLabel(m.name)} <span className="muted">· {formatDateTime(m.at)}</span>
                </h3>
                {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard. */}
                <pre className="trace-json" tabIndex={0}>
                  <code>{JSON.stringify(m.data, null, 2)}</code>
                </pre>
              </li>
            ))}
          </ol>
        )}
      </Card>
    </>
  );
}
