// Runs the generated Zod schemas on payloads: node check.mjs <fixtures.json>, where each
// fixture is {"module": "contracts/inventory", "method", "kind": "params" | "result",
// "value"}. Prints one JSON array: per fixture null when the schema accepts the value, else
// the sorted JSON Pointers of its issues. A missing property is reported at the object that
// lacks it, as JSON Schema's `required` is (Zod reports it at the property).
import { readFileSync } from 'node:fs';

const fixtures = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const modules = new Map();

function contractOf(module) {
  return Object.values(module).find(
    (v) => v !== null && typeof v === 'object' && 'service' in v && 'methods' in v,
  );
}

function pointer(value, path) {
  const tokens = [];
  let at = value;
  for (const [i, key] of path.entries()) {
    const missing = i === path.length - 1 && (at === null || typeof at !== 'object' || !(key in at));
    if (missing) break;
    tokens.push(String(key).replaceAll('~', '~0').replaceAll('/', '~1'));
    at = at[key];
  }
  return tokens.map((t) => `/${t}`).join('');
}

const results = [];
for (const f of fixtures) {
  if (!modules.has(f.module)) {
    modules.set(f.module, await import(new URL(`./out/${f.module}.js`, import.meta.url)));
  }
  const schema = contractOf(modules.get(f.module)).methods[f.method][f.kind];
  const parsed = schema.safeParse(f.value);
  results.push(
    parsed.success ? null : [...new Set(parsed.error.issues.map((i) => pointer(f.value, i.path)))].sort(),
  );
}
process.stdout.write(`${JSON.stringify(results)}\n`);
