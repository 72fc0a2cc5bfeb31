/** Error pages of the admin UI. */
import { Layout } from "./layout";

/** The page a non-admin (or a refused request) gets, with status 403: the sign-out form (`logout`: its token) and a way to the user's own page. */
export function forbiddenPage(
  email: string,
  message = "This area is for gateway administrators only.",
  logout?: string,
) {
  return (
    <Layout title="Forbidden" email={email} logout={logout} nav={false}>
      <section class="card">
        <h2>403 — not allowed</h2>
        <p>{message}</p>
        {email && (
          <p class="muted">
            Signed in as <b>{email}</b>. Ask an administrator if you need access.
          </p>
        )}
        {email && (
          <p>
            <a href="/admin/me" id="to-me">
              My access and API keys
            </a>
            : what you can use, your keys, how to connect a client.
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
