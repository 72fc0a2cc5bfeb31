/** Error pages of the admin UI. */
import { Layout } from "./layout";

/** The page a non-admin (or a refused request) gets, with status 403. */
export function forbiddenPage(email: string, message = "This area is for gateway administrators only.") {
  return (
    <Layout title="Forbidden" email={email} nav={false}>
      <section class="card">
        <h2>403 — not allowed</h2>
        <p>{message}</p>
        {email && (
          <p class="muted">
            Signed in as <b>{email}</b>. Ask an administrator if you need access.
          </p>
        )}
      </section>
    </Layout>
  );
}

/** A 404 page for the UI. */
export function notFoundPage(email: string, what: string) {
  return (
    <Layout title="Not found" email={email}>
      <section class="card">
        <h2>Not found</h2>
        <p>{what}</p>
      </section>
    </Layout>
  );
}
