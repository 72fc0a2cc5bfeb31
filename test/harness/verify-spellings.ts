/** Test data shared by the unit and integration tests of the forwardAuth endpoint's hiding. */

/** Spellings of the forwardAuth path a client might try (issue 13: `/auth/%76erify` reached it). */
export const VERIFY_SPELLINGS = [
  "/auth/verify",
  "/auth/%76erify",
  "/auth/%76%65%72%69%66%79",
  "/%61uth/verify",
  "/auth/VERIFY",
  "/Auth/Verify",
  "/AUTH/%56ERIFY",
  "//auth/verify",
  "/auth//verify",
  "/auth/verify/",
  "/auth/verify//",
  "/auth/./verify",
  "/auth/%2e/verify",
  "/auth/x/../verify",
  "/auth/x/%2e%2e/verify",
  "/auth/x/%2E%2E/verify",
  "/mcp/../auth/verify",
  "/admin/%2e%2e/auth/verify",
  "/auth\\verify",
];
