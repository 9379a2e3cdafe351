import { useEffect, useState } from "react";
import { api } from "../../api.js";
import { AlertMessage } from "../../components/Alert.js";
import { Badge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { Collapsible } from "../../components/Collapsible.js";
import { Loadable } from "../../components/Loadable.js";
import { EmptyState } from "../../components/Spinner.js";
import { actionsColumn, Table } from "../../components/Table.js";
import { formatDateTime } from "../../format.js";
import { useAction, useApi } from "../../hooks.js";
import { Link, tracePath, withQuery } from "../../router.js";
import type { TracePage, TraceSummary } from "../../types.js";
import { stepLabel } from "./TestResult.js";

const PAGE_SIZE = 20;

type OutcomeFilter = "" | "success" | "failure";

const FILTERS: { value: OutcomeFilter; label: string }[] = [
  { value: "", label: "All" },
  { value: "success", label: "Succeeded" },
  { value: "failure", label: "Failed" },
];

/** "Test" or "Sign-in". */
export function purposeLabel(purpose: TraceSummary["purpose"]): string {
  return purpose === "test" ? "Test" : "Sign-in";
}

export function OutcomeBadge({ outcome }: { outcome: TraceSummary["outcome"] }) {
  return outcome === "success" ? (
    <Badge tone="success">Succeeded</Badge>
  ) : (
    <Badge tone="danger">Failed</Badge>
  );
}

/**
 * A connection's sign-in attempts and tests (SPEC §17): newest first, filtered by outcome, more
 * on demand; each opens its trace. Traces are kept 7 days.
 */
export function SignInAttempts({ connectionId }: { connectionId: string }) {
  const [outcome, setOutcome] = useState<OutcomeFilter>("");
  const base = `/api/admin/sso/connections/${encodeURIComponent(connectionId)}/traces`;
  const first = useApi<TracePage>(withQuery(base, { outcome, limit: PAGE_SIZE }));
  const [more, setMore] = useState<{ traces: TraceSummary[]; next: string | null } | null>(null);
  const loading = useAction();

  // A new first page (another filter, a refresh) starts the list again.
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new first page is the trigger.
  useEffect(() => setMore(null), [first.data]);

  const next = more ? more.next : (first.data?.next ?? null);

  function loadMore() {
    if (!next) return;
    void loading.run(async () => {
      const page = await api<TracePage>(withQuery(base, { outcome, limit: PAGE_SIZE, before: next }));
      setMore((prev) => ({ traces: [...(prev?.traces ?? []), ...page.traces], next: page.next }));
    });
  }

  return (
    <Collapsible title="Sign-in attempts" defaultOpen={false}>
      <div className="stack">
        <div className="toolbar trace-toolbar">
          <div className="segmented" role="group" aria-label="Show attempts">
            {FILTERS.map((f) => (
              <Button
                key={f.value || "all"}
                size="sm"
                variant={outcome === f.value ? "primary" : "secondary"}
                aria-pressed={outcome === f.value}
                onClick={() => setOutcome(f.value)}
              >
                {f.label}
              </Button>
            ))}
          </div>
          <Button size="sm" variant="ghost" onClick={first.reload} loading={first.loading && !!first.data}>
            Refresh
          </Button>
        </div>
        <p className="muted trace-note">
          Every sign-in and test of this connection, kept for 7 days. Secrets, tokens and personal values are
          redacted.
        </p>
        <Loadable
          resource={first}
          loadingLabel="Loading sign-in attempts…"
          errorTitle="Couldn't load the sign-in attempts"
        >
          {(data) => {
            const rows = [...data.traces, ...(more?.traces ?? [])];
            return (
              <>
                <Table
                  label="Sign-in attempts, newest first"
                  rows={rows}
                  empty={
                    <EmptyState title={outcome ? "No attempts with this outcome" : "No sign-in attempts yet"}>
                      <p>Tests and sign-ins through this connection show up here.</p>
                    </EmptyState>
                  }
                  columns={[
                    {
                      key: "when",
                      header: "When",
                      className: "cell-nowrap",
                      render: (t) => <time dateTime={t.startedAt}>{formatDateTime(t.startedAt)}</time>,
                    },
                    { key: "purpose", header: "Type", render: (t) => purposeLabel(t.purpose) },
                    {
                      key: "outcome",
                      header: "Outcome",
                      render: (t) => <OutcomeBadge outcome={t.outcome} />,
                    },
                    {
                      key: "step",
                      header: "Step",
                      render: (t) => (
                        <span>
                          {stepLabel(t.step)}
                          {t.code ? <span className="cell-sub mono">{t.code}</span> : null}
                        </span>
                      ),
                    },
                    {
                      key: "user",
                      header: "User",
                      render: (t) => (t.user ? t.user.email : <span className="muted">—</span>),
                    },
                    actionsColumn<TraceSummary>((t) => (
                      <Link
                        to={tracePath(t.id)}
                        aria-label={`Details of the ${purposeLabel(t.purpose).toLowerCase()} of ${formatDateTime(t.startedAt)}`}
                      >
                        Details
                      </Link>
                    )),
                  ]}
                />
                {next ? (
                  <div>
                    <Button size="sm" onClick={loadMore} loading={loading.busy}>
                      Load more
                    </Button>
                  </div>
                ) : null}
                <AlertMessage message={loading.error} />
              </>
            );
          }}
        </Loadable>
      </div>
    </Collapsible>
  );
}
