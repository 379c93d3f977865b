import { useId, useRef, useState, type ReactNode } from 'react';

/** Props of {@link ConfirmButton}. */
export interface ConfirmButtonProps {
  /** The button's text (and accessible name unless `ariaLabel` is given). */
  readonly label: string;
  /** Accessible name of the button when its text alone is ambiguous (e.g. several “Delete” buttons). */
  readonly ariaLabel?: string;
  /** The dialog's heading, e.g. “End the stream?”. */
  readonly title: string;
  /** What confirming does and what it cannot undo. */
  readonly children: ReactNode;
  /** Text of the confirming button, e.g. “End stream”. */
  readonly confirmLabel: string;
  /** Runs on confirmation; the dialog closes when it settles (it should not reject: report errors itself). */
  readonly onConfirm: () => Promise<void>;
  readonly disabled?: boolean;
  /** `danger` styles both buttons as destructive. */
  readonly tone?: 'danger' | 'normal';
  readonly testId?: string;
}

/**
 * A button that asks first: it opens a modal `<dialog>` (focus kept inside, Escape cancels;
 * HTML Living Standard §4.11.4) with the consequences, Cancel and the confirming button.
 */
export function ConfirmButton(props: ConfirmButtonProps) {
  const { label, ariaLabel, title, children, confirmLabel, onConfirm, disabled = false, tone = 'normal', testId } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [busy, setBusy] = useState(false);
  const cls = tone === 'danger' ? 'button button-danger' : 'button';
  const confirm = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      dialog.current?.close();
    }
  };
  return (
    <>
      <button type="button" className={cls} disabled={disabled || busy} aria-label={ariaLabel} data-testid={testId} onClick={() => dialog.current?.showModal()}>
        {label}
      </button>
      <dialog ref={dialog} className="confirm-dialog" aria-labelledby={titleId} data-testid={testId ? `${testId}-dialog` : undefined}>
        <h3 id={titleId}>{title}</h3>
        <div className="confirm-body">{children}</div>
        <div className="confirm-actions">
          <button type="button" className="button" onClick={() => dialog.current?.close()} disabled={busy}>
            Cancel
          </button>
          <button type="button" className={tone === 'danger' ? 'button button-danger' : 'button button-primary'} onClick={() => void confirm()} disabled={busy} aria-busy={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
