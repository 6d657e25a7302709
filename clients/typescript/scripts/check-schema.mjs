// Fails when src/schema.ts no longer matches what openapi-typescript generates from the API's
// openapi.yaml: the client's types must describe the API as it is. `npm run generate` fixes it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const root = new URL("../", import.meta.url);
const spec = new URL("../../openapi.yaml", root);
const committed = readFileSync(new URL("src/schema.ts", root), "utf8");
const generated = astToString(await openapiTS(spec));
const strip = (text) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim();
if (strip(committed) !== strip(generated)) {
  console.error(
    `src/schema.ts differs from ${fileURLToPath(spec)}: run \`npm run generate\` in clients/typescript and commit it`,
  );
  process.exit(1);
}
console.log("src/schema.ts matches openapi.yaml");
