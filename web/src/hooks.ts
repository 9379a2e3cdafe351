import { type Dispatch, type SetStateAction, useCallback, useEffect, useState } from "react";
import { api, errorMessage } from "./api.js";

export interface Resource<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: Dispatch<SetStateAction<T | null>>;
}

/** Loads a GET endpoint; `path` null means "not yet". Keeps the previous data while reloading. */
export function useApi<T>(path: string | null): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const [version, setVersion] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the reload trigger.
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    api<T>(path, { signal: controller.signal })
      .then((result) => {
        setData(result);
        setLoading(false);
      })
      .catch((cause: unknown) => {
        if (controller.signal.aborted) return;
        setError(cause);
        setLoading(false);
      });
    return () => controller.abort();
  }, [path, version]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data, error, loading, reload, setData };
}

const APP_NAME = "CoPilot";

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · ${APP_NAME}` : APP_NAME;
  }, [title]);
}

/** Returns `value` after it has stopped changing for `delay` ms. */
export function useDebounced<T>(value: T, delay = 300): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), delay);
    return () => window.clearTimeout(timer);
  }, [value, delay]);
  return debounced;
}

export interface RunOptions {
  /** Why the task can't run yet (e.g. a required field is empty): shown as the error instead. */
  problem?: string | null;
  /** Stay busy after success: the page is about to change (a navigation, a dialog closing). */
  keepBusy?: boolean;
  /** The message to show for a failure, or null when it is shown elsewhere (e.g. next to a field). */
  onError?: (cause: unknown) => string | null;
}

export interface Action {
  /** True while a task runs. */
  busy: boolean;
  /** The last failure's message, or one set directly (e.g. a validation message). */
  error: string | null;
  setError: (message: string | null) => void;
  /** Runs `task`: clears the error, is busy meanwhile and keeps the failure's message. Never rejects. */
  run: (task: () => Promise<unknown>, options?: RunOptions) => Promise<void>;
}

/** The state of a button's or a form's request: busy while it runs, and the error it ended with. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async (
      task: () => Promise<unknown>,
      { problem, keepBusy = false, onError = errorMessage }: RunOptions = {},
    ) => {
      if (problem) {
        setError(problem);
        return;
      }
      setBusy(true);
      setError(null);
      try {
        await task();
        if (!keepBusy) setBusy(false);
      } catch (cause) {
        setError(onError(cause));
        setBusy(false);
      }
    },
    [],
  );
  return { busy, error, setError, run };
}
