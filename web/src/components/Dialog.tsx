import { type ReactNode, useEffect, useId, useRef } from "react";
import { createPortal } from "react-dom";
import type { Action } from "../hooks.js";
import { AlertMessage } from "./Alert.js";
import { Button, type ButtonProps, type ButtonVariant } from "./Button.js";
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

interface ActionDialogProps {
  open: boolean;
  title: ReactNode;
  description?: ReactNode;
  size?: "sm" | "md" | "lg";
  /** What the main button runs: while busy the buttons are disabled and the dialog stays; closing clears its error. */
  action: Pick<Action, "busy" | "setError">;
  onClose: () => void;
  /** The main button, next to Cancel: its label and the rest of its props (onClick, or type and form). */
  main: Omit<ButtonProps, "children" | "loading"> & { label: ReactNode };
  /** Focus Cancel when the dialog opens (a confirmation); otherwise the first field gets the focus. */
  focusCancel?: boolean;
  children: ReactNode;
}

/** A dialog that runs an action from its main button, with Cancel next to it. */
function ActionDialog({
  open,
  title,
  description,
  size,
  action,
  onClose,
  main: { label, ...main },
  focusCancel,
  children,
}: ActionDialogProps) {
  function close() {
    action.setError(null);
    onClose();
  }
  return (
    <Dialog
      open={open}
      title={title}
      description={description}
      size={size}
      onClose={close}
      dismissible={!action.busy}
      footer={
        <>
          <Button onClick={close} disabled={action.busy} data-autofocus={focusCancel ? "" : undefined}>
            Cancel
          </Button>
          <Button {...main} loading={action.busy}>
            {label}
          </Button>
        </>
      }
    >
      {children}
    </Dialog>
  );
}

interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  message: ReactNode;
  confirmLabel: string;
  /** What confirming runs; its error is shown under the message. */
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
  return (
    <ActionDialog
      open={open}
      title={title}
      size="sm"
      action={action}
      onClose={onCancel}
      main={{ label: confirmLabel, variant: danger ? "danger" : "primary", onClick: onConfirm }}
      focusCancel
    >
      <div className="stack-sm">
        <p>{message}</p>
        <AlertMessage message={action.error} />
      </div>
    </ActionDialog>
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
  /** What submitting runs. */
  action: Pick<Action, "busy" | "setError">;
  onClose: () => void;
  onSubmit: () => void;
  children: ReactNode;
}

/** A dialog around a form, with Cancel and a submit button in its footer. */
export function FormDialog({
  open = true,
  submitLabel,
  submitVariant = "primary",
  onSubmit,
  children,
  ...dialog
}: FormDialogProps) {
  const formId = `dialog-form${useId()}`;
  return (
    <ActionDialog
      open={open}
      {...dialog}
      main={{ label: submitLabel, variant: submitVariant, type: "submit", form: formId }}
    >
      <Form id={formId} className="stack" onSubmit={onSubmit}>
        {children}
      </Form>
    </ActionDialog>
  );
}
