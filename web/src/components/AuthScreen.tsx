import { useState, type FormEvent } from "react";
import type { ApiClient } from "../api/client";
import { ErrorBanner } from "./ErrorBanner";

/** Sign in, or sign up with a new account (password of at least 10 characters). */
export function AuthScreen({ api, onSignedIn }: { api: ApiClient; onSignedIn: () => void }) {
  const [mode, setMode] = useState<"signin" | "signup">("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "signup") await api.register(email, password);
      else await api.login(email, password);
      onSignedIn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <h1>Megaton Roto</h1>
      <form onSubmit={submit} className="card">
        <h2>{mode === "signup" ? "Create an account" : "Sign in"}</h2>
        <label>
          Email
          <input type="email" name="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            minLength={mode === "signup" ? 10 : undefined}
            autoComplete={mode === "signup" ? "new-password" : "current-password"}
          />
        </label>
        {mode === "signup" && <p className="hint">At least 10 characters.</p>}
        <ErrorBanner error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {mode === "signup" ? "Sign up" : "Sign in"}
        </button>
        <button type="button" className="link" onClick={() => { setMode(mode === "signup" ? "signin" : "signup"); setError(null); }}>
          {mode === "signup" ? "I have an account: sign in" : "New here? Create an account"}
        </button>
      </form>
    </main>
  );
}
