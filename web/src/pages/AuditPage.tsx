import { useState } from "react";
import { Badge } from "../components/Badge.js";
import { Button } from "../components/Button.js";
import { Card } from "../components/Card.js";
import { SelectField, TextField, VERBATIM } from "../components/Field.js";
import { Form } from "../components/Form.js";
import { Loadable } from "../components/Loadable.js";
import { SettingsPage } from "../components/PageHeader.js";
import { Pagination } from "../components/Pagination.js";
import { EmptyState } from "../components/Spinner.js";
import { Table } from "../components/Table.js";
import { formatDateTime, summarize } from "../format.js";
import { useApi } from "../hooks.js";
import { withQuery } from "../router.js";
import type { AuditEntry } from "../types.js";

const PAGE_SIZE = 50;

interface AuditPageData {
  entries: AuditEntry[];
  total: number;
  page: number;
  pageSize: number;
}

export function AuditPage() {
  const [actionInput, setActionInput] = useState("");
  const [outcomeInput, setOutcomeInput] = useState("");
  const [filters, setFilters] = useState({ action: "", outcome: "" });
  const [page, setPage] = useState(1);
  const audit = useApi<AuditPageData>(
    withQuery("/api/admin/audit", {
      action: filters.action,
      outcome: filters.outcome,
      page,
      pageSize: PAGE_SIZE,
    }),
  );

  function apply() {
    setFilters({ action: actionInput.trim(), outcome: outcomeInput });
    setPage(1);
  }

  function clear() {
    setActionInput("");
    setOutcomeInput("");
    setFilters({ action: "", outcome: "" });
    setPage(1);
  }

  const filtered = Boolean(filters.action || filters.outcome);

  return (
    <SettingsPage
      title="Audit log"
      description="Sign-ins, SSO configuration changes, tests, break-glass use, tokens and user provisioning."
    >
      <Card>
        <div className="stack">
          <Form className="toolbar" onSubmit={apply} aria-label="Filter the audit log">
            <TextField
              label="Action"
              type="search"
              value={actionInput}
              onChange={setActionInput}
              placeholder="e.g. sso.login"
              fieldClassName="toolbar-search"
              {...VERBATIM}
            />
            <SelectField
              label="Outcome"
              value={outcomeInput}
              onChange={setOutcomeInput}
              options={[
                { value: "", label: "All outcomes" },
                { value: "success", label: "Success" },
                { value: "failure", label: "Failure" },
              ]}
              fieldClassName="toolbar-select"
            />
            <div className="toolbar-buttons">
              <Button type="submit" variant="primary">
                Filter
              </Button>
              {filtered ? <Button onClick={clear}>Clear</Button> : null}
            </div>
          </Form>
          <Loadable
            resource={audit}
            loadingLabel="Loading the audit log…"
            errorTitle="Couldn't load the audit log"
          >
            {(data) => (
              <>
                <Table
                  label="Audit log entries"
                  rows={data.entries}
                  empty={
                    <EmptyState title={filtered ? "No entries match these filters" : "No audit entries yet"}>
                      <p>
                        {filtered
                          ? "Try a shorter action or another outcome."
                          : "Sign-ins and changes will show up here."}
                      </p>
                    </EmptyState>
                  }
                  columns={[
                    {
                      key: "time",
                      header: "Time",
                      className: "cell-nowrap",
                      render: (e) => <time dateTime={e.at}>{formatDateTime(e.at)}</time>,
                    },
                    {
                      key: "action",
                      header: "Action",
                      className: "cell-primary",
                      render: (e) => <code>{e.action}</code>,
                    },
                    {
                      key: "outcome",
                      header: "Outcome",
                      render: (e) =>
                        e.outcome === "success" ? (
                          <Badge tone="success">Success</Badge>
                        ) : (
                          <Badge tone="danger">Failure</Badge>
                        ),
                    },
                    {
                      key: "actor",
                      header: "Actor",
                      render: (e) => (
                        <span>
                          {e.actor.label ?? e.actor.id ?? "—"}
                          <span className="cell-sub">{e.actor.type}</span>
                        </span>
                      ),
                    },
                    {
                      key: "target",
                      header: "Target",
                      render: (e) =>
                        e.target ? (
                          <span>
                            {e.target.type}
                            {e.target.id ? (
                              <span className="cell-sub mono">{e.target.id.slice(0, 8)}</span>
                            ) : null}
                          </span>
                        ) : (
                          <span className="muted">—</span>
                        ),
                    },
                    {
                      key: "details",
                      header: "Details",
                      className: "cell-details",
                      render: (e) => {
                        const text = summarize({ ...(e.details ?? {}), ip: e.ip });
                        return <span title={text}>{text}</span>;
                      },
                    },
                  ]}
                />
                <Pagination
                  page={page}
                  pageSize={data.pageSize || PAGE_SIZE}
                  total={data.total}
                  onPage={setPage}
                  label="Audit log pages"
                />
              </>
            )}
          </Loadable>
        </div>
      </Card>
    </SettingsPage>
  );
}
