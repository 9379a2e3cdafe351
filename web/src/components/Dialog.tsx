import { type ReactNode, useEffect, useId, useRef } from "react";
import { createPortal } from "react-dom";
import type { Action } from "../hooks.js";
import { AlertMessage } from "./Alert.js";
import { Button, type ButtonVariant } from "./Button.js";
import { Form } from "./Form.js";

interface DialogProps {
  open: boolean;
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** Buttons shown at the bottom of the dialog. */
  footer?: ReactNode;
  /** Optional description below the title (wired with aria-describedby). */
  description?: ReactNode;
  size?: "sm" | "md" | "lg";
  /** Set false while an action runs to ignore Escape and backdrop clicks. */
  dismissible?: boolean;
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

let openDialogs = 0;

/** Marks the app behind open dialogs inert so that only the dialog can be reached. */
function setBackgroundInert(inert: boolean) {
  const root = document.getElementById("root");
  if (!root) return;
  if (inert) {
    root.setAttribute("inert", "");
    root.setAttribute("aria-hidden", "true");
  } else {
    root.removeAttribute("inert");
    root.removeAttribute("aria-hidden");
  }
}

/** The one modal dialog: role="dialog", aria-modal, labelled by its title, focus trapped, Escape closes. */
export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
  description,
  size = "md",
  dismissible = true,
}: DialogProps) {
  const id = useId();
  const titleId = `dialog${id}-title`;
  const descriptionId = description ? `dialog${id}-desc` : undefined;
  const panelRef = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  const dismissibleRef = useRef(dismissible);
  dismissibleRef.current = dismissible;

  useEffect(() => {
    if (!open) return;
    const previouslyFocused = document.activeElement as HTMLElement | null;
    openDialogs += 1;
    setBackgroundInert(true);
    document.body.classList.add("dialog-open");

    const panel = panelRef.current;
    if (panel) {
      const preferred = panel.querySelector<HTMLElement>("[data-autofocus]");
      const firstField = panel.querySelector<HTMLElement>(
        ".dialog-body input:not([disabled]), .dialog-body select:not([disabled]), .dialog-body textarea:not([disabled])",
      );
      (preferred ?? firstField ?? panel).focus();
    }

    function onKeyDown(event: KeyboardEvent) {
      if (event.key === "Escape") {
        if (dismissibleRef.current) {
          event.stopPropagation();
          onCloseRef.current();
        }
        return;
      }
      if (event.key !== "Tab" || !panelRef.current) return;
      const focusable = Array.from(panelRef.current.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
        (el) => el.offsetParent !== null || el === document.activeElement,
      );
      if (focusable.length === 0) {
        event.preventDefault();
        return;
      }
      const first = focusable[0]!;
      const last = focusable[focusable.length - 1]!;
      if (
        event.shiftKey &&
        (document.activeElement === first || document.activeElement === panelRef.current)
      ) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
    document.addEventListener("keydown", onKeyDown, true);

    return () => {
      document.removeEventListener("keydown", onKeyDown, true);
      openDialogs -= 1;
      if (openDialogs === 0) {
        setBackgroundInert(false);
        document.body.classList.remove("dialog-open");
      }
      if (previouslyFocused?.isConnected) previouslyFocused.focus();
    };
  }, [open]);

  if (!open) return null;

  return createPortal(
    <div className="dialog-backdrop">
      <div className="dialog-scrim" aria-hidden="true" onClick={() => dismissible && onClose()} />
      <div
        ref={panelRef}
        className={`dialog dialog-${size}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={descriptionId}
        tabIndex={-1}
      >
        <div className="dialog-header">
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          <button
            type="button"
            className="icon-button"
            aria-label="Close"
            onClick={onClose}
            disabled={!dismissible}
          >
            <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
              <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
            </svg>
          </button>
        </div>
        {description ? (
          <p id={descriptionId} className="dialog-description">
            {description}
          </p>
        ) : null}
        <div className="dialog-body">{children}</div>
        {footer ? <div className="dialog-footer">{footer}</div> : null}
      </div>
    </div>,
    document.body,
  );
}

interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  message: ReactNode;
  confirmLabel: string;
  /** What confirming runs: busy meanwhile; its error is shown under the message and cleared on Cancel. */
  action: Pick<Action, "busy" | "error" | "setError">;
  onConfirm: () => void;
  onCancel: () => void;
  danger?: boolean;
}

/** A yes/no confirmation built on Dialog. */
export function ConfirmDialog({
  open,
  title,
  message,
  confirmLabel,
  action,
  onConfirm,
  onCancel,
  danger = true,
}: ConfirmDialogProps) {
  const { busy, error } = action;
  function cancel() {
    action.setError(null);
    onCancel();
  }
  return (
    <Dialog
      open={open}
      title={title}
      onClose={cancel}
      size="sm"
      dismissible={!busy}
      footer={
        <>
          <button type="button" className="btn btn-secondary" onClick={cancel} disabled={busy} data-autofocus>
            Cancel
          </button>
          <button
            type="button"
            className={`btn ${danger ? "btn-danger" : "btn-primary"}`}
            onClick={onConfirm}
            disabled={busy}
            aria-busy={busy || undefined}
          >
            {busy ? <span className="spinner spinner-inline" aria-hidden="true" /> : null}
            {confirmLabel}
          </button>
        </>
      }
    >
      <div className="stack-sm">
        <p>{message}</p>
        <AlertMessage message={error} />
      </div>
    </Dialog>
  );
}

interface FormDialogProps {
  open?: boolean;
  title: ReactNode;
  description?: ReactNode;
  size?: "sm" | "md" | "lg";
  /** The submit button's label; Cancel sits next to it. */
  submitLabel: ReactNode;
  submitVariant?: ButtonVariant;
  /** While the submission runs: the buttons are disabled and the dialog can't be dismissed. */
  busy: boolean;
  onClose: () => void;
  onSubmit: () => void;
  children: ReactNode;
}

/** A dialog around a form, with Cancel and a submit button in its footer. */
export function FormDialog({
  open = true,
  title,
  description,
  size,
  submitLabel,
  submitVariant = "primary",
  busy,
  onClose,
  onSubmit,
  children,
}: FormDialogProps) {
  const formId = `dialog-form${useId()}`;
  return (
    <Dialog
      open={open}
      title={title}
      description={description}
      size={size}
      onClose={onClose}
      dismissible={!busy}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant={submitVariant} loading={busy}>
            {submitLabel}
          </Button>
        </>
      }
    >
      <Form id={formId} className="stack" onSubmit={onSubmit}>
        {children}
      </Form>
    </Dialog>
  );
}
