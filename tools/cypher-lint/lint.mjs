// Neo4j's own Cypher linter (@neo4j-cypher/language-support, offline) over
// queries given on stdin as {"queries": {name: text}, "parameters": {...}};
// prints {name: [{severity, message}]} (severity 1 is an error, 2 a warning).
// Run by tests/test_graph.py; `make setup` installs it with npm ci.
import { lintCypherQuery } from '@neo4j-cypher/language-support';
import { readFileSync } from 'node:fs';

const { queries, parameters } = JSON.parse(readFileSync(0, 'utf8'));
const out = {};
for (const [name, text] of Object.entries(queries)) {
  const result = lintCypherQuery(text, { parameters });
  const found = Array.isArray(result) ? result : (result.diagnostics || []);
  out[name] = found.map((d) => ({ severity: d.severity, message: d.message }));
}
console.log(JSON.stringify(out));
