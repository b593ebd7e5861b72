import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from "react";
import { describeError } from "../format.ts";

/**
 * A modal confirmation (the native <dialog>: the page behind is inert, so
 * focus stays inside, and Escape closes it). With `reasonLabel` a reason is
 * required before the action runs; the action's error is shown in the dialog.
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  reasonLabel,
  onConfirm,
  onClose,
}: {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  reasonLabel?: string;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const reasonId = useId();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (reasonLabel && reason.trim() === "") return;
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm(reason.trim());
      onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) onClose();
      }}
    >
      <form onSubmit={submit}>
        <h2 id={titleId}>{title}</h2>
        {children}
        {reasonLabel && (
          <p>
            <label htmlFor={reasonId}>{reasonLabel}</label>
            <textarea
              id={reasonId}
              required
              maxLength={500}
              rows={3}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
            />
          </p>
        )}
        {error !== undefined && (
          <p className="state error" role="alert">
            {describeError(error)}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Keep as is
          </button>
          <button
            type="submit"
            className="danger"
            disabled={busy || (reasonLabel !== undefined && reason.trim() === "")}
          >
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
