import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api } from "../api.js";
import { Link, navigate, useLocation, withQuery } from "../router.js";
import { SessionContext, type SessionContextValue, useSession } from "../session.js";
import type { Session } from "../types.js";
import { Alert } from "./Alert.js";
import { Button } from "./Button.js";
import { Logo } from "./Logo.js";
import { COMPANY_SETTINGS, PageHeader } from "./PageHeader.js";
import { ErrorState, LoadingState } from "./Spinner.js";

interface NavItem {
  to: string;
  label: string;
  admin: boolean;
}

const NAV_GROUPS: { label: string; items: NavItem[] }[] = [
  {
    label: COMPANY_SETTINGS,
    items: [
      { to: "/settings/sso", label: "Single Sign-On (SSO)", admin: true },
      { to: "/settings/users", label: "Users", admin: true },
      { to: "/settings/tokens", label: "Integration tokens", admin: true },
      { to: "/settings/audit", label: "Audit log", admin: true },
      { to: "/settings/security", label: "Security", admin: true },
    ],
  },
  { label: "Personal", items: [{ to: "/account", label: "Account", admin: false }] },
];

/** The frame of every signed-in page: loads the session, shows the top bar and the navigation. */
export function AppShell({ children }: { children: ReactNode }) {
  const { pathname, search } = useLocation();
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [signingOut, setSigningOut] = useState(false);
  const [version, setVersion] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: loads once per shell mount and on refresh.
  useEffect(() => {
    let cancelled = false;
    setError(null);
    api<Session>("/api/auth/me")
      .then((result) => {
        if (!cancelled) setSession(result);
      })
      .catch((cause: unknown) => {
        if (cancelled) return;
        if (cause instanceof ApiError && cause.status === 401) {
          navigate(withQuery("/login", { returnTo: window.location.pathname + window.location.search }), {
            replace: true,
          });
          return;
        }
        setError(cause);
      });
    return () => {
      cancelled = true;
    };
  }, [version]);

  // On small screens the navigation is a horizontal strip: keep the current page's link in view.
  const navRef = useRef<HTMLElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-run when the page or the session changes.
  useEffect(() => {
    const nav = navRef.current;
    const link = nav?.querySelector<HTMLElement>(".sidenav-link.active");
    if (nav && link && nav.scrollWidth > nav.clientWidth) nav.scrollLeft = Math.max(0, link.offsetLeft - 16);
  }, [pathname, session]);

  const refresh = useCallback(() => setVersion((v) => v + 1), []);
  const value = useMemo<SessionContextValue | null>(
    () => (session ? { ...session, refresh } : null),
    [session, refresh],
  );

  async function signOut() {
    setSigningOut(true);
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch {
      // Signing out locally is what matters; the session cookie is cleared or expires either way.
    }
    window.location.assign("/login");
  }

  if (!value) {
    return (
      <div className="shell-loading">
        <main id="main" className="content">
          {error ? (
            <ErrorState error={error} onRetry={refresh} title="Couldn't load your account" />
          ) : (
            <LoadingState />
          )}
        </main>
      </div>
    );
  }

  const isAdmin = value.user.role === "admin";
  const groups = NAV_GROUPS.map((group) => ({
    ...group,
    items: group.items.filter((item) => isAdmin || !item.admin),
  })).filter((group) => group.items.length > 0);

  return (
    <SessionContext.Provider value={value}>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to="/" className="brand" aria-label={`CoPilot home, ${value.agency.name}`}>
            <Logo />
            <span className="brand-name" aria-hidden="true">
              CoPilot
            </span>
          </Link>
          <span className="topbar-divider" aria-hidden="true" />
          <span className="topbar-agency">{value.agency.name}</span>
          <div className="topbar-user">
            <span className="topbar-user-text">
              <span className="topbar-user-name">{value.user.name || value.user.email}</span>
              <span className="topbar-user-email">{value.user.email}</span>
            </span>
            <Button size="sm" onClick={signOut} loading={signingOut}>
              Sign out
            </Button>
          </div>
        </div>
      </header>
      <div className="shell">
        <nav className="sidenav" aria-label="Main" ref={navRef}>
          <ul className="sidenav-list">
            <li>
              <Link
                to="/"
                className={pathname === "/" ? "sidenav-link active" : "sidenav-link"}
                aria-current={pathname === "/" ? "page" : undefined}
              >
                Home
              </Link>
            </li>
            {groups.map((group) => (
              <li key={group.label} className="sidenav-group">
                <span
                  className="sidenav-group-label"
                  id={`nav-${group.label.replace(/\s+/g, "-").toLowerCase()}`}
                >
                  {group.label}
                </span>
                <ul
                  className="sidenav-sublist"
                  aria-labelledby={`nav-${group.label.replace(/\s+/g, "-").toLowerCase()}`}
                >
                  {group.items.map((item) => {
                    const active = pathname === item.to;
                    return (
                      <li key={item.to}>
                        <Link
                          to={item.to}
                          className={active ? "sidenav-link active" : "sidenav-link"}
                          aria-current={active ? "page" : undefined}
                        >
                          {item.label}
                        </Link>
                      </li>
                    );
                  })}
                </ul>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" className="content" tabIndex={-1} data-path={pathname + search}>
          {children}
        </main>
      </div>
    </SessionContext.Provider>
  );
}

/** Wraps admin-only pages: non-admins get an explanation instead. */
export function AdminOnly({ children }: { children: ReactNode }) {
  const { user } = useSession();
  if (user.role !== "admin") {
    return (
      <div className="page">
        <PageHeader title="Not available" />
        <Alert tone="info" title="Only agency admins can open this page.">
          <p>
            Ask an admin of your agency if you need access. <Link to="/">Go to the home page</Link>
          </p>
        </Alert>
      </div>
    );
  }
  return <>{children}</>;
}
