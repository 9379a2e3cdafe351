import { Badge, RoleBadge } from "../components/Badge.js";
import { Card } from "../components/Card.js";
import { Details } from "../components/Details.js";
import { Page } from "../components/PageHeader.js";
import { Link } from "../router.js";
import { useSession } from "../session.js";

export function HomePage() {
  const { user, agency } = useSession();
  const firstName = (user.name || user.email).split(" ")[0];
  return (
    <Page
      title={`Welcome, ${firstName}`}
      description={`You're signed in to ${agency.name}.`}
      documentTitle="Home"
    >
      <Card title="Your account">
        <Details
          items={[
            { term: "Name", value: user.name || "—" },
            { term: "Email", value: user.email },
            { term: "Role", value: <RoleBadge role={user.role} /> },
            {
              term: "Agency",
              value: (
                <>
                  {agency.name} <span className="muted">({agency.slug})</span>
                </>
              ),
            },
            {
              term: "Two-factor authentication",
              value: (
                <>
                  {user.twoFactorEnabled ? (
                    <Badge tone="success">On</Badge>
                  ) : (
                    <Badge tone="warning">Off</Badge>
                  )}{" "}
                  <Link to="/account">Manage</Link>
                </>
              ),
            },
          ]}
        />
      </Card>
      <Card title="Agency">
        <Details
          items={[
            {
              term: "Plan",
              value: (
                <Badge tone={agency.plan === "pro" ? "accent" : "neutral"}>
                  {agency.plan === "pro" ? "Pro" : "Starter"}
                </Badge>
              ),
            },
            {
              term: "Sign-in domain",
              value: agency.domain ?? <span className="muted">Not configured</span>,
            },
          ]}
        />
        {user.role === "admin" ? (
          <p className="card-note">
            Use the <strong>Company Settings</strong> navigation to manage single sign-on, users, integration
            tokens, the audit log and security.
          </p>
        ) : null}
      </Card>
    </Page>
  );
}
