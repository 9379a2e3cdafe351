import { createContext, useContext } from "react";
import type { Session } from "./types.js";

export interface SessionContextValue extends Session {
  /** Re-reads `/api/auth/me` (e.g. after the profile or 2FA changed). */
  refresh: () => void;
}

export const SessionContext = createContext<SessionContextValue | null>(null);

/** The signed-in user and agency; only available inside the app shell. */
export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession must be used inside the app shell");
  return value;
}
