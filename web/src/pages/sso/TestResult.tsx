import { useEffect, useRef } from "react";
import { errorMessage } from "../../api.js";
import { Alert } from "../../components/Alert.js";
import { Spinner } from "../../components/Spinner.js";
import { formatDateTime } from "../../format.js";
import { useApi } from "../../hooks.js";
import { UI } from "../../messages.js";
import { Link, tracePath } from "../../router.js";
import type { SsoTest, SubAccount, User } from "../../types.js";

const STEP_LABELS: Record<string, string> = {
  state: "Checking the state token",
  discovery: "Reading the OIDC configuration",
  authorization: "Signing in at the identity provider",
  token: "Exchanging the code for tokens",
  code_exchange: "Exchanging the code for tokens",
  id_token: "Validating the ID token",
  userinfo: "Calling the user-info endpoint",
  mapping: "Mapping the user details",
  resolution: "Finding the CoPilot user",
  cloudflare: "Verifying the Cloudflare Access assertion",
  assertion: "Verifying the Cloudflare Access assertion",
  connection: "Finding the connection",
  authorize: "Starting the sign-in at the identity provider",
  callback: "Reading the identity provider's answer",
  policy: "Checking who may sign in",
  mfa: "Handed over to two-factor authentication",
  done: "Completed",
};

export function stepLabel(step: string): string {
  return STEP_LABELS[step] ? `${STEP_LABELS[step]} (${step})` : step;
}

/** The CoPilot user a test matched, or the "no match" sentence. */
export function MatchedUser({ userId }: { userId: string | null }) {
  const user = useApi<{ user: User }>(userId ? `/api/admin/users/${encodeURIComponent(userId)}` : null);
  if (!userId) return <span>{UI.noMatchedUser}</span>;
  if (user.loading) return <Spinner label="Looking up the matched user…" />;
  if (user.data) {
    const u = user.data.user;
    return (
      <span>
        Matched CoPilot user: <strong>{u.name || u.email}</strong>
        {u.name ? <span className="muted"> ({u.email})</span> : null}
      </span>
    );
  }
  return (
    <span>
      Matched CoPilot user: <code>{userId}</code>
    </span>
  );
}

/** Who ran a test and when. */
export function TestMeta({ test }: { test: SsoTest }) {
  return (
    <p className="test-meta">
      {test.startedBy ? <>Run by {test.startedBy.email}</> : "Run"} on {formatDateTime(test.startedAt)}
      {test.finishedAt ? <> · finished {formatDateTime(test.finishedAt)}</> : null}
    </p>
  );
}

/** "View trace" for a finished test (the §7 result links to its trace). */
export function TraceLink({ traceId }: { traceId: string | null | undefined }) {
  if (!traceId) return null;
  return (
    <p>
      <Link to={tracePath(traceId)}>View trace</Link>
    </p>
  );
}

/** The names (never the values) of the claims an IdP sent. */
export function ClaimNames({ names }: { names: string[] }) {
  if (names.length === 0) return <span className="muted">None</span>;
  return (
    <ul className="chips" aria-label="Claim names received">
      {names.map((claim) => (
        <li key={claim} className="chip">
          {claim}
        </li>
      ))}
    </ul>
  );
}

/** SPEC §13: the groups a test received (names only) and the role and sub-accounts they would give. */
export function TestGroups({ test }: { test: SsoTest }) {
  const g = test.diagnostic?.groups;
  const subAccounts = useApi<{ subAccounts: SubAccount[] }>(
    g?.subAccountIds.length ? "/api/admin/sub-accounts" : null,
  );
  if (!g) return null;
  const names = new Map((subAccounts.data?.subAccounts ?? []).map((s) => [s.id, s.name]));
  return (
    <dl className="diagnostic" aria-label="Groups">
      <div>
        <dt>Groups received</dt>
        <dd>
          {g.received.length ? (
            <ul className="chips" aria-label="Groups received">
              {g.received.map((group) => (
                <li key={group} className="chip">
                  {group}
                </li>
              ))}
            </ul>
          ) : (
            "None"
          )}
        </dd>
      </div>
      <div>
        <dt>Role they give</dt>
        <dd>{g.role ?? "None (the role stays as it is)"}</dd>
      </div>
      <div>
        <dt>Sub-accounts they give</dt>
        <dd>
          {g.subAccountIds.length ? g.subAccountIds.map((id) => names.get(id) ?? id).join(", ") : "None"}
        </dd>
      </div>
      {g.allowed ? null : (
        <div>
          <dt>Allowed groups</dt>
          <dd>In none of the allowed groups: a sign-in would be refused.</dd>
        </div>
      )}
    </dl>
  );
}

/** The outcome of a failed test: message, the step that failed, the IdP's error and the claim names received. */
export function TestDiagnostic({ test }: { test: SsoTest }) {
  const d = test.diagnostic;
  return (
    <div className="stack-sm">
      {test.message ? <p className="test-message">{test.message}</p> : null}
      {d ? (
        <dl className="diagnostic">
          {d.step ? (
            <div>
              <dt>Failed step</dt>
              <dd>{stepLabel(d.step)}</dd>
            </div>
          ) : null}
          {d.detail ? (
            <div>
              <dt>What went wrong</dt>
              <dd>{d.detail}</dd>
            </div>
          ) : null}
          {d.idpError ? (
            <div>
              <dt>Identity provider error</dt>
              <dd className="mono">{d.idpError}</dd>
            </div>
          ) : null}
          <div>
            <dt>Claims received</dt>
            <dd>
              <ClaimNames names={d.claimNames} />
            </dd>
          </div>
        </dl>
      ) : null}
    </div>
  );
}

/** The latest test of a connection, inside the "Test Status" section. */
export function TestDetails({ test }: { test: SsoTest }) {
  return (
    <div className="test-details">
      <TestMeta test={test} />
      {test.status === "passed" ? (
        <>
          <p>
            <MatchedUser userId={test.matchedUserId} />
          </p>
          <TestGroups test={test} />
        </>
      ) : test.status === "failed" ? (
        <>
          <TestDiagnostic test={test} />
          <p>
            <MatchedUser userId={test.matchedUserId} />
          </p>
        </>
      ) : test.status === "pending" ? (
        <p className="muted">Waiting for the sign-in at the identity provider to finish.</p>
      ) : (
        <p className="muted">
          The configuration changed after this test, so it no longer counts. Run a new test.
        </p>
      )}
    </div>
  );
}

/**
 * The prominent result shown when coming back from a test (`/settings/sso?test=<id>`). It follows
 * the test's current status, not the one it had when the page opened: while the test is its
 * connection's latest, it is the overview's copy (`current`, reloaded with the settings, so an edit
 * that expires the test shows here at once); an older test is fetched, and fetched again whenever
 * the overview changes (`refreshKey`).
 */
export function TestResultBanner({
  testId,
  current,
  refreshKey,
  ssoEnabled,
  onDismiss,
}: {
  testId: string;
  current: SsoTest | null;
  refreshKey: unknown;
  ssoEnabled: boolean;
  onDismiss: () => void;
}) {
  const result = useApi<{ test: SsoTest }>(
    current ? null : `/api/admin/sso/tests/${encodeURIComponent(testId)}`,
  );
  const { reload } = result;
  const mounted = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `refreshKey` is the reload trigger.
  useEffect(() => {
    if (mounted.current) reload();
    mounted.current = true;
  }, [refreshKey, reload]);
  const test = current ?? result.data?.test;
  if (!test && result.loading) {
    return (
      <div className="banner-loading">
        <Spinner label="Loading the test result…" />
      </div>
    );
  }
  if (!test) {
    return (
      <Alert tone="error" title="Couldn't load the test result" onDismiss={onDismiss} className="banner">
        <p>{errorMessage(result.error)}</p>
      </Alert>
    );
  }
  if (test.status === "passed") {
    return (
      <Alert tone="success" title="Test passed" onDismiss={onDismiss} className="banner">
        <p>
          <MatchedUser userId={test.matchedUserId} />
        </p>
        <TestGroups test={test} />
        {ssoEnabled ? null : <p>You can now turn on Enable SSO in Additional Settings.</p>}
        <TraceLink traceId={test.traceId} />
      </Alert>
    );
  }
  if (test.status === "failed") {
    return (
      <Alert tone="error" title="Test failed" onDismiss={onDismiss} className="banner">
        <TestDiagnostic test={test} />
        <p>
          <MatchedUser userId={test.matchedUserId} />
        </p>
        <TraceLink traceId={test.traceId} />
      </Alert>
    );
  }
  if (test.status === "pending") {
    return (
      <Alert tone="info" title="Test in progress" onDismiss={onDismiss} className="banner">
        <p>The sign-in at the identity provider hasn't finished yet.</p>
      </Alert>
    );
  }
  return (
    <Alert tone="warning" title="Test expired" onDismiss={onDismiss} className="banner">
      <p>The configuration changed after this test. Run a new test.</p>
    </Alert>
  );
}
