import type { ReactNode } from "react";
import { roleLabel } from "../format.js";

export type BadgeTone = "neutral" | "success" | "danger" | "warning" | "info" | "accent";

export function Badge({ tone = "neutral", children }: { tone?: BadgeTone; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** A user's role; admins stand out. */
export function RoleBadge({ role }: { role: string }) {
  return <Badge tone={role === "admin" ? "accent" : "neutral"}>{roleLabel(role)}</Badge>;
}

const TEST_TONES: Record<string, BadgeTone> = {
  pending: "info",
  passed: "success",
  failed: "danger",
  expired: "warning",
};

const TEST_LABELS: Record<string, string> = {
  pending: "Pending",
  passed: "Passed",
  failed: "Failed",
  expired: "Expired",
};

export function TestStatusBadge({ status }: { status: string }) {
  return <Badge tone={TEST_TONES[status] ?? "neutral"}>{TEST_LABELS[status] ?? status}</Badge>;
}
