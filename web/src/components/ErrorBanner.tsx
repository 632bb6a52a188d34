import { errorText } from "../api/errors";

/** An API or network error in words, dismissable. */
export function ErrorBanner({ error, onClose }: { error: unknown; onClose?: () => void }) {
  if (error === null || error === undefined) return null;
  return (
    <div className="error" role="alert">
      <span>{errorText(error)}</span>
      {onClose && <button className="link" onClick={onClose} aria-label="Dismiss">×</button>}
    </div>
  );
}
