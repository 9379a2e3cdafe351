import type { ReactNode } from "react";
import type { Resource } from "../hooks.js";
import { ErrorState, LoadingState } from "./Spinner.js";

interface LoadableProps<T> {
  resource: Pick<Resource<T>, "data" | "error" | "loading" | "reload">;
  /** Shown while the first load runs. */
  loadingLabel?: string;
  /** The title of the error shown (with Try again) when loading fails. */
  errorTitle: string;
  /** Keep showing the data when a reload fails; by default the error replaces it. */
  keepDataOnError?: boolean;
  children: (data: T) => ReactNode;
}

/** A loaded resource in its three states: a spinner, an error with Try again, or its content. */
export function Loadable<T>({
  resource,
  loadingLabel,
  errorTitle,
  keepDataOnError,
  children,
}: LoadableProps<T>) {
  const { data, error, loading, reload } = resource;
  if (loading && !data) return <LoadingState label={loadingLabel} />;
  if (error && !(keepDataOnError && data)) {
    return <ErrorState error={error} onRetry={reload} title={errorTitle} />;
  }
  return data ? children(data) : null;
}
