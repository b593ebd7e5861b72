import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app.tsx";
import { LoginError, Session } from "./auth.ts";
import "./styles.css";

const container = document.getElementById("root");
if (!container) throw new Error("no #root element");
const root = createRoot(container);

function showProblem(title: string, detail: string, session?: Session) {
  root.render(
    <StrictMode>
      <main id="main" className="refused">
        <h1>{title}</h1>
        <p role="alert">{detail}</p>
        <button
          type="button"
          className="primary"
          onClick={() => (session ? void session.beginLogin() : window.location.reload())}
        >
          {session ? "Sign in again" : "Try again"}
        </button>
      </main>
    </StrictMode>,
  );
}

async function start() {
  root.render(
    <p className="state loading" role="status">
      Signing in…
    </p>,
  );
  let session: Session | undefined;
  try {
    session = await Session.open();
    if (!(await session.completeLogin())) {
      await session.beginLogin();
      return;
    }
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    showProblem(
      error instanceof LoginError ? "Could not sign in" : "The console could not start",
      detail,
      session,
    );
    return;
  }
  root.render(
    <StrictMode>
      <App session={session} />
    </StrictMode>,
  );
}

void start();
