import { type ComponentType, useEffect, useRef } from "react";
import { AdminOnly, AppShell } from "./components/AppShell.js";
import { AccountPage } from "./pages/AccountPage.js";
import { AuditPage } from "./pages/AuditPage.js";
import { EnrollPage } from "./pages/EnrollPage.js";
import { HomePage } from "./pages/HomePage.js";
import { LoginPage } from "./pages/LoginPage.js";
import { NotFoundPage } from "./pages/NotFoundPage.js";
import { SecurityPage } from "./pages/SecurityPage.js";
import { SsoSettingsPage } from "./pages/sso/SsoSettingsPage.js";
import { TraceDetailPage } from "./pages/sso/TraceDetail.js";
import { TokensPage } from "./pages/TokensPage.js";
import { TwoFactorPage } from "./pages/TwoFactorPage.js";
import { UsersPage } from "./pages/UsersPage.js";
import { type ClientRoute, traceIdOf, useLocation } from "./router.js";

interface Route {
  component: ComponentType;
  /** Signed-in pages render inside the app shell. */
  shell: boolean;
  admin?: boolean;
}

const ROUTES: Record<ClientRoute, Route> = {
  "/login": { component: LoginPage, shell: false },
  "/login/2fa": { component: TwoFactorPage, shell: false },
  "/login/2fa/enroll": { component: EnrollPage, shell: false },
  "/": { component: HomePage, shell: true },
  "/settings/sso": { component: SsoSettingsPage, shell: true, admin: true },
  "/settings/users": { component: UsersPage, shell: true, admin: true },
  "/settings/tokens": { component: TokensPage, shell: true, admin: true },
  "/settings/audit": { component: AuditPage, shell: true, admin: true },
  "/settings/security": { component: SecurityPage, shell: true, admin: true },
  "/account": { component: AccountPage, shell: true },
};

/** `/settings/sso/traces/<id>`: one connection trace (SPEC §17). */
const TRACE_ROUTE: Route = { component: TraceDetailPage, shell: true, admin: true };

function normalize(pathname: string): string {
  return pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
}

export function App() {
  const { pathname } = useLocation();
  const path = normalize(pathname);
  const route = Object.hasOwn(ROUTES, path)
    ? ROUTES[path as ClientRoute]
    : traceIdOf(path)
      ? TRACE_ROUTE
      : undefined;
  const firstRender = useRef(true);

  // Move focus to the new page's heading after client-side navigation, so screen readers announce it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs whenever the path changes.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    const target =
      document.querySelector<HTMLElement>("main h1") ?? document.querySelector<HTMLElement>("main");
    target?.focus({ preventScroll: true });
  }, [path]);

  if (!route) return <NotFoundPage />;
  const Page = route.component;
  if (!route.shell) return <Page key={path} />;
  return (
    <AppShell>
      {route.admin ? (
        <AdminOnly>
          <Page key={path} />
        </AdminOnly>
      ) : (
        <Page key={path} />
      )}
    </AppShell>
  );
}
