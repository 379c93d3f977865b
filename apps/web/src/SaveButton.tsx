/**
 * A form's submit button that says “Saving…” while `busy` and, next to it, “Saved” (a status
 * for screen readers) once the last save succeeded.
 */
export function SaveButton({ label, busy, saved, primary = false }: { label: string; busy: boolean; saved: boolean; primary?: boolean }) {
  return (
    <div className="inline-actions">
      <button type="submit" className={primary ? 'button button-primary' : 'button'} disabled={busy} aria-busy={busy}>
        {busy ? 'Saving…' : label}
      </button>
      {saved && !busy && (
        <span className="muted" role="status">
          Saved
        </span>
      )}
    </div>
  );
}
