/**
 * The confirmation step of a destructive form (delete, revoke): the list page's button posts
 * without `confirm=yes` and gets this page; its own form posts the same action again with the
 * CSRF token and `confirm=yes`. Works without scripts (the CSP allows none but nonce'd ones).
 */
import { Csrf, Flash, Layout } from "./layout";
import type { PageBase } from "./pages.manage";

/** The form field that says the admin confirmed. */
export const CONFIRM_FIELD = "confirm";

export interface Confirmation {
  /** What happens, as the button says it: e.g. `Delete tenant acme`. */
  label: string;
  /** What else goes with it, one sentence. */
  consequence: string;
  /** Where "Cancel" goes. */
  back: string;
}

export function ConfirmPage(p: PageBase & { what: Confirmation; action: string }) {
  return (
    <Layout title={`${p.what.label}?`} email={p.email} logout={p.logout}>
      <Flash ok={p.ok} error={p.error} />
      <section class="card" id="confirm">
        <h2>{p.what.label}?</h2>
        <p>{p.what.consequence} This cannot be undone.</p>
        <form method="post" action={p.action} class="inline">
          <Csrf token={p.token} />
          <input type="hidden" name={CONFIRM_FIELD} value="yes" />
          <button type="submit" class="danger">
            {p.what.label}
          </button>
        </form>{" "}
        <a class="button secondary" href={p.what.back} id="confirm-cancel" style="background:#fff;color:#2f5bd3">
          Cancel
        </a>
      </section>
    </Layout>
  );
}
