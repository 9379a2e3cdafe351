import { Badge } from "../components/Badge.js";
import { Card } from "../components/Card.js";
import { PageHeader } from "../components/PageHeader.js";
import { roleLabel } from "../format.js";
import { useTitle } from "../hooks.js";
import { Link } from "../router.js";
import { useSession } from "../session.js";

export function HomePage() {
  useTitle("Home");
  const { user, agency } = useSession();
  const firstName = (user.name || user.email).split(" ")[0];
  return (
    <div className="page">
      <PageHeader title={`Welcome, ${firstName}`} description={`You're signed in to ${agency.name}.`} />
      <Card title="Your account">
        <dl className="details">
          <div>
            <dt>Name</dt>
            <dd>{user.name || "—"}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>{user.email}</dd>
          </div>
          <div>
            <dt>Role</dt>
            <dd>
              <Badge tone={user.role === "admin" ? "accent" : "neutral"}>{roleLabel(user.role)}</Badge>
            </dd>
          </div>
          <div>
            <dt>Agency</dt>
            <dd>
              {agency.name} <span className="muted">({agency.slug})</span>
            </dd>
          </div>
          <div>
            <dt>Two-factor authentication</dt>
            <dd>
              {user.twoFactorEnabled ? <Badge tone="success">On</Badge> : <Badge tone="warning">Off</Badge>}{" "}
              <Link to="/account">Manage</Link>
            </dd>
          </div>
        </dl>
      </Card>
      <Card title="Agency">
        <dl className="details">
          <div>
            <dt>Plan</dt>
            <dd>
              <Badge tone={agency.plan === "pro" ? "accent" : "neutral"}>
                {agency.plan === "pro" ? "Pro" : "Starter"}
              </Badge>
            </dd>
          </div>
          <div>
            <dt>Sign-in domain</dt>
            <dd>{agency.domain ?? <span className="muted">Not configured</span>}</dd>
          </div>
        </dl>
        {user.role === "admin" ? (
          <p className="card-note">
            Use the <strong>Company Settings</strong> navigation to manage single sign-on, users, integration
            tokens, the audit log and security.
          </p>
        ) : null}
      </Card>
    </div>
  );
}
