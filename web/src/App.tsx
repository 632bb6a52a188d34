/** The app shell: signed out shows sign-in; signed in, the path picks the library or an editor. */
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiClient, browserTokenStore } from "./api/client";
import { AuthScreen } from "./components/AuthScreen";
import { Editor } from "./components/Editor";
import { Library } from "./components/Library";
import { navigate } from "./router";

function currentPath(): string {
  return window.location.pathname;
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => browserTokenStore().get() !== null);
  const api = useMemo(() => new ApiClient(browserTokenStore(), "", () => setSignedIn(false)), []);
  const [path, setPath] = useState(currentPath);

  useEffect(() => {
    const onPop = () => setPath(currentPath());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  const signOut = useCallback(() => {
    api.signOut();
    setSignedIn(false);
    navigate("/");
  }, [api]);

  if (!signedIn) return <AuthScreen api={api} onSignedIn={() => setSignedIn(true)} />;

  const email = api.tokens.get()?.user.email ?? "";
  const editing = /^\/videos\/([^/]+)$/.exec(path);
  return (
    <div className="app">
      <header className="topbar">
        <a href="/" onClick={(e) => { e.preventDefault(); navigate("/"); }} className="brand">
          Megaton Roto
        </a>
        <span className="spacer" />
        <span data-testid="user-email">{email}</span>
        <button onClick={signOut}>Sign out</button>
      </header>
      {editing ? <Editor api={api} videoId={editing[1]!} /> : <Library api={api} />}
    </div>
  );
}
