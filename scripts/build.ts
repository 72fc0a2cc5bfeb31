/** `npm run build`: bundles every worker into dist/ and writes the workerd configs. */
import { buildAll } from "./lib/build";
import { writeWorkerdConfigs } from "./lib/workerd-config";

const started = Date.now();
await buildAll();
const files = writeWorkerdConfigs();
console.log(`built 5 workers in ${Date.now() - started} ms; workerd configs: ${files.join(", ")}`);
