/** Auth worker: forwardAuth endpoint, OIDC browser login and the OAuth protected-resource metadata. */
import { Hono } from "hono";
import { registerVerifyRoutes } from "./verify.routes";
import { registerLoginRoutes } from "./login.routes";
import { registerMetadataRoutes } from "./metadata.routes";
import { onError } from "../../../shared/http";

const app = new Hono<{ Bindings: Record<string, unknown> }>();
app.onError(onError);
registerVerifyRoutes(app);
registerLoginRoutes(app);
registerMetadataRoutes(app);
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
