import { useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { Alert } from "../components/Alert.js";
import { AuthForm, AuthLayout } from "../components/AuthLayout.js";
import { buttonClass } from "../components/Button.js";
import { TextField } from "../components/Field.js";
import { Loadable } from "../components/Loadable.js";
import { useAction, useApi } from "../hooks.js";
import { signInErrorMessage, UI } from "../messages.js";
import { goTo, navigate, safeReturnTo, useLocation, withQuery } from "../router.js";
import type { AuthMethods, LoginResponse, SsoMethod } from "../types.js";

/** Where "Sign in with Google" starts (the instance's own Google client). */
export const GOOGLE_START_PATH = "/login/google/start";

/** Every kind starts at /login/sso/start: the server sends the browser where the kind says. */
function ssoHref(method: SsoMethod, returnTo: string | null): string {
  return withQuery("/login/sso/start", { connection: method.id, returnTo });
}

export function LoginPage() {
  const { query } = useLocation();
  const methods = useApi<AuthMethods>("/api/auth/methods");
  const errorCode = query.get("error");
  const returnTo = safeReturnTo(query.get("returnTo"));
  const breakGlass = query.get("method") === "password";

  const title = methods.data?.agency ? `Sign in to ${methods.data.agency.name}` : "Sign in to CoPilot";

  return (
    <AuthLayout
      title={title}
      documentTitle="Sign in"
      subtitle={methods.data?.homeRealmDiscovery ? "Enter your work email to continue." : undefined}
    >
      {errorCode ? (
        <Alert tone="error" className="auth-alert">
          <p>{signInErrorMessage(errorCode)}</p>
        </Alert>
      ) : null}
      <Loadable
        resource={methods}
        loadingLabel="Loading sign-in options…"
        errorTitle="Couldn't load the sign-in options"
      >
        {(data) =>
          data.homeRealmDiscovery ? (
            <EmailFirstForm />
          ) : (
            <AgencySignIn methods={data} returnTo={returnTo} breakGlass={breakGlass} />
          )
        }
      </Loadable>
    </AuthLayout>
  );
}

/** The email of the sign-in forms (password managers fill it in as the username). */
function EmailField(props: { value: string; onChange: (value: string) => void; autoFocus?: boolean }) {
  return <TextField label="Email" type="email" autoComplete="username" required {...props} />;
}

/** Instance host: ask for the email, then continue on the agency that owns it. */
function EmailFirstForm() {
  const [email, setEmail] = useState("");
  const lookup = useAction();

  function submit() {
    void lookup.run(
      async () => {
        const { url } = await api<{ url: string }>("/api/auth/lookup", {
          method: "POST",
          body: { email: email.trim() },
        });
        window.location.assign(url);
      },
      { problem: email.trim() ? null : "Enter your email address.", keepBusy: true },
    );
  }

  return (
    <AuthForm action={lookup} submitLabel="Continue" onSubmit={submit}>
      <EmailField value={email} onChange={setEmail} autoFocus />
    </AuthForm>
  );
}

interface AgencySignInProps {
  methods: AuthMethods;
  returnTo: string | null;
  breakGlass: boolean;
}

function AgencySignIn({ methods, returnTo, breakGlass: breakGlassRequested }: AgencySignInProps) {
  if (!methods.agency) {
    return (
      <Alert tone="warning" title="This address isn't set up for sign-in">
        <p>Check the link you used, or ask your administrator for your organisation's sign-in address.</p>
      </Alert>
    );
  }

  const hidden = methods.hideOtherLoginMethods && methods.sso.length > 0;
  // `/login?method=password` is the administrators' break-glass path (audited) while other methods are hidden.
  const breakGlassActive = breakGlassRequested;
  const showPassword = breakGlassRequested || (methods.password && !hidden);
  const showGoogle = methods.google && !hidden && !breakGlassRequested;
  const ssoButtons = breakGlassRequested ? [] : methods.sso;
  const hasProviders = ssoButtons.length > 0 || showGoogle;

  if (!showPassword && !hasProviders) {
    return (
      <Alert tone="info" title="No sign-in methods are available">
        <p>Your organisation hasn't turned on a way to sign in yet. Contact your administrator.</p>
      </Alert>
    );
  }

  return (
    <div className="stack">
      {breakGlassActive ? (
        <Alert tone="warning">
          <p>{UI.breakGlassNote}</p>
        </Alert>
      ) : null}
      {hasProviders ? (
        <div className="provider-buttons">
          {ssoButtons.map((method) => (
            <a
              key={method.id}
              className={buttonClass("secondary", "md", "btn-block btn-provider")}
              href={ssoHref(method, returnTo)}
            >
              <ProviderIcon type={method.type} />
              Sign in with {method.name}
            </a>
          ))}
          {showGoogle ? (
            <a
              className={buttonClass("secondary", "md", "btn-block btn-provider")}
              href={withQuery(GOOGLE_START_PATH, { returnTo })}
            >
              <ProviderIcon type="google" />
              Sign in with Google
            </a>
          ) : null}
        </div>
      ) : null}
      {showPassword && hasProviders ? (
        <div className="divider" aria-hidden="true">
          <span>or</span>
        </div>
      ) : null}
      {showPassword ? <PasswordForm returnTo={returnTo} breakGlass={breakGlassActive} /> : null}
      {breakGlassRequested && methods.sso.length > 0 ? (
        <p className="auth-meta">
          <a href="/login">Back to all sign-in options</a>
        </p>
      ) : null}
    </div>
  );
}

/** A failed sign-in's message; when rate-limited, with how long to wait. */
function signInFailure(cause: unknown): string {
  if (cause instanceof ApiError && cause.status === 429 && cause.retryAfter) {
    const minutes = Math.ceil(cause.retryAfter / 60);
    return `${cause.message} Try again in ${minutes === 1 ? "a minute" : `${minutes} minutes`}.`;
  }
  return errorMessage(cause);
}

function PasswordForm({ returnTo, breakGlass }: { returnTo: string | null; breakGlass: boolean }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useAction();

  function submit() {
    void signIn.run(
      async () => {
        const body = breakGlass
          ? { email: email.trim(), password, breakGlass: true }
          : { email: email.trim(), password };
        const result = await api<LoginResponse>("/api/auth/login", { method: "POST", body });
        if (result.mfaRequired) {
          navigate(withQuery("/login/2fa", { returnTo }));
        } else if (result.mfaEnrollmentRequired) {
          navigate(withQuery("/login/2fa/enroll", { returnTo }));
        } else {
          goTo(returnTo ?? "/");
        }
      },
      {
        problem: email.trim() && password ? null : "Enter your email and password.",
        keepBusy: true,
        onError: signInFailure,
      },
    );
  }

  return (
    <AuthForm action={signIn} submitLabel="Sign in" onSubmit={submit}>
      <EmailField value={email} onChange={setEmail} />
      <TextField
        label="Password"
        type="password"
        value={password}
        onChange={setPassword}
        autoComplete="current-password"
        required
      />
    </AuthForm>
  );
}

function ProviderIcon({ type }: { type: string }) {
  if (type === "google") {
    return (
      <svg className="provider-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
        <path
          d="M17.6 10.2c0-.6-.1-1.2-.2-1.7H10v3.3h4.3a3.7 3.7 0 0 1-1.6 2.4v2h2.6c1.5-1.4 2.3-3.5 2.3-6z"
          fill="#4285F4"
        />
        <path
          d="M10 18c2.2 0 4-.7 5.3-1.9l-2.6-2a4.8 4.8 0 0 1-7.2-2.5H2.8v2.1A8 8 0 0 0 10 18z"
          fill="#34A853"
        />
        <path d="M5.5 11.6a4.8 4.8 0 0 1 0-3.1V6.4H2.8a8 8 0 0 0 0 7.2l2.7-2z" fill="#FBBC05" />
        <path
          d="M10 5.2c1.2 0 2.3.4 3.2 1.2l2.3-2.3A8 8 0 0 0 2.8 6.4l2.7 2.1A4.8 4.8 0 0 1 10 5.2z"
          fill="#EA4335"
        />
      </svg>
    );
  }
  return (
    <svg className="provider-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
      <path
        d="M12.5 3a4.5 4.5 0 0 0-4.3 5.9L3 14.1V17h2.9v-1.5h1.5V14h1.5l1.2-1.2A4.5 4.5 0 1 0 12.5 3zm1 4.5a1 1 0 1 1 0-2 1 1 0 0 1 0 2z"
        fill="currentColor"
      />
    </svg>
  );
}
