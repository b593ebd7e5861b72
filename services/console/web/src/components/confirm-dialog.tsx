import { type FormEvent, type ReactNode, useId, useState } from "react";
import { describeError } from "../format.ts";
import { Modal } from "./modal.tsx";

/**
 * A modal confirmation (focus kept inside, Escape closes it). With `reasonLabel` a reason is
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
  const titleId = useId();
  const reasonId = useId();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

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
    <Modal labelledBy={titleId} canClose={!busy} onClose={onClose}>
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
    </Modal>
  );
}
