/**
 * Which DynamoDB actions a function's code can send, per table and index, read from the source as text:
 * from its entry file, every top-level declaration it references (through imports and re-exports) is
 * followed, and each command it builds is tied to the table it names. A command whose table is a
 * parameter (batchGetAll, queryAll, updateIf) takes the table its caller names right after the call.
 * A heuristic, not a type checker: it reads `tables.<name>` and `IndexName:` as the code base writes
 * them, and says so when it cannot tell a command's table.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TableAction } from '../../lib/wiring';
import { TABLES, type TableDefinition, type TableName } from '../../shared/tables';

const ROOT = path.join(__dirname, '..', '..');

/** One command a declaration sends: its action, and its table and index once the code names them. */
interface Op {
  action: TableAction;
  table?: string;
  index?: string;
  /** Where it is built: `module#declaration`. */
  where: string;
}

/** The IAM action of each command the code base may build, and of each transaction item. */
const COMMANDS: [RegExp, TableAction][] = [
  [/new (?:Get|GetItem)Command\(/g, 'GetItem'],
  [/new (?:Put|PutItem)Command\(/g, 'PutItem'],
  [/new (?:Update|UpdateItem)Command\(/g, 'UpdateItem'],
  [/new (?:Delete|DeleteItem)Command\(/g, 'DeleteItem'],
  [/new QueryCommand\(|\bpaginateQuery\(/g, 'Query'],
  [/new (?:BatchGet|BatchGetItem)Command\(/g, 'BatchGetItem'],
  [/new (?:BatchWrite|BatchWriteItem)Command\(/g, 'BatchWriteItem'],
  // Not a TableAction on purpose: a Scan found here fails the grant check.
  [/new ScanCommand\(|\bpaginateScan\(/g, 'Scan' as TableAction],
  [/\bPut:\s*\{/g, 'PutItem'],
  [/\bUpdate:\s*\{/g, 'UpdateItem'],
  [/\bDelete:\s*\{/g, 'DeleteItem'],
  [/\bConditionCheck:\s*\{/g, 'ConditionCheckItem'],
];

interface Declaration {
  module: string;
  name: string;
  body: string;
}

interface Module {
  file: string;
  text: string;
  declarations: Map<string, Declaration>;
  /** Local name → where it comes from. */
  imports: Map<string, { module: string; name: string }>;
  /** Exported name → where it is declared (`export { a } from`), and modules re-exported whole. */
  reexports: Map<string, { module: string; name: string }>;
  starExports: string[];
}

const DECLARATION =
  /^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/;

const stripComments = (text: string): string =>
  text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[\s;{}(),])\/\/.*$/gm, '$1');

function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {}
  }
  return undefined;
}

function namedList(list: string): [string, string][] {
  return list
    .split(',')
    .map((item) => item.trim().replace(/^type\s+/, ''))
    .filter((item) => item !== '')
    .map((item) => {
      const [imported = item, local = imported] = item.split(/\s+as\s+/);
      return [imported.trim(), local.trim()];
    });
}

const modules = new Map<string, Module>();

function loadModule(file: string): Module {
  const cached = modules.get(file);
  if (cached) return cached;
  const text = stripComments(readFileSync(file, 'utf8'));
  const module: Module = {
    file,
    text,
    declarations: new Map(),
    imports: new Map(),
    reexports: new Map(),
    starExports: [],
  };
  modules.set(file, module);
  for (const match of text.matchAll(/^import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'([^']+)'/gm)) {
    const source = resolveImport(file, match[2] ?? '');
    if (source === undefined) continue;
    for (const [imported, local] of namedList(match[1] ?? ''))
      module.imports.set(local, { module: source, name: imported });
  }
  for (const match of text.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'([^']+)'/gm)) {
    const source = resolveImport(file, match[2] ?? '');
    if (source === undefined) continue;
    for (const [imported, exported] of namedList(match[1] ?? ''))
      module.reexports.set(exported, { module: source, name: imported });
  }
  for (const match of text.matchAll(/^export\s+\*\s+from\s+'([^']+)'/gm)) {
    const source = resolveImport(file, match[1] ?? '');
    if (source !== undefined) module.starExports.push(source);
  }
  const lines = text.split('\n');
  let current: Declaration | undefined;
  for (const line of lines) {
    const name = DECLARATION.exec(line)?.[1];
    if (name !== undefined) {
      current = { module: file, name, body: '' };
      module.declarations.set(name, current);
    } else if (/^(?:import|export\s+(?:type\s+)?\{|export\s+\*)/.test(line)) {
      current = undefined;
    }
    if (current) current.body += `${line}\n`;
  }
  return module;
}

/** The declaration `name` of `file` stands for, through re-exports. */
function declarationOf(file: string, name: string, seen = new Set<string>()): Declaration | undefined {
  const key = `${file}#${name}`;
  if (seen.has(key)) return undefined;
  seen.add(key);
  const module = loadModule(file);
  const own = module.declarations.get(name);
  if (own) return own;
  const reexport = module.reexports.get(name);
  if (reexport) return declarationOf(reexport.module, reexport.name, seen);
  for (const star of module.starExports) {
    const found = declarationOf(star, name, seen);
    if (found) return found;
  }
  return undefined;
}

/** `BY_USER` → `byUser` when the module defines it from TABLES; a quoted name as it is. */
function indexName(module: Module, expression: string): string {
  const quoted = /^['"]([^'"]+)['"]$/.exec(expression);
  if (quoted?.[1]) return quoted[1];
  const definition = new RegExp(
    `const ${expression}\\s*=\\s*TABLES\\.(\\w+)\\.globalSecondaryIndexes\\[(\\d+)\\]\\.indexName`,
  ).exec(module.text);
  const table = definition?.[1] as TableName | undefined;
  const position = Number(definition?.[2]);
  const indexes = table === undefined ? undefined : (TABLES[table] as TableDefinition).globalSecondaryIndexes;
  return indexes?.[position]?.indexName ?? `?${expression}`;
}

interface Event {
  at: number;
  ops: Op[];
}

const summaries = new Map<Declaration, Op[]>();

/** Every command `declaration` can send, directly or through what it references; table unset when a caller names it. */
function opsOf(declaration: Declaration): Op[] {
  const cached = summaries.get(declaration);
  if (cached) return cached;
  summaries.set(declaration, []);
  const module = loadModule(declaration.module);
  const { body } = declaration;
  const where = `${path.relative(ROOT, declaration.module)}#${declaration.name}`;
  const events: Event[] = [];
  for (const [pattern, action] of COMMANDS) {
    for (const match of body.matchAll(pattern)) events.push({ at: match.index, ops: [{ action, where }] });
  }
  for (const match of body.matchAll(/(?<![.\w$])([A-Za-z_$][\w$]*)/g)) {
    const name = match[1] ?? '';
    if (name === declaration.name) continue;
    const imported = module.imports.get(name);
    const target = imported ? declarationOf(imported.module, imported.name) : module.declarations.get(name);
    if (target === undefined) continue;
    const ops = opsOf(target);
    if (ops.length > 0) events.push({ at: match.index, ops });
  }
  events.sort((a, b) => a.at - b.at);
  const found: Op[] = [];
  events.forEach((event, i) => {
    const regionEnd = events[i + 1]?.at ?? body.length;
    const table = /\btables\.(\w+)/.exec(body.slice(event.at))?.[1];
    const index = /\bIndexName:\s*([\w$]+|'[^']*')/.exec(body.slice(event.at, regionEnd))?.[1];
    for (const op of event.ops) {
      if (op.table !== undefined) found.push(op);
      else
        found.push({
          ...op,
          ...(table === undefined ? {} : { table }),
          ...(op.action === 'Query' && op.index === undefined && index !== undefined
            ? { index: indexName(module, index) }
            : {}),
        });
    }
  });
  summaries.set(declaration, found);
  return found;
}

/** What a function's code sends: `table` or `table/index/<index>` → actions, and the commands whose table it cannot tell. */
export function codeActions(entry: string): { grants: Record<string, TableAction[]>; untold: string[] } {
  const module = loadModule(path.join(ROOT, entry));
  const grants: Record<string, Set<TableAction>> = {};
  const untold: string[] = [];
  for (const declaration of module.declarations.values()) {
    for (const op of opsOf(declaration)) {
      if (op.table === undefined) {
        untold.push(`${op.action} in ${op.where}`);
        continue;
      }
      const key = op.index === undefined ? op.table : `${op.table}/index/${op.index}`;
      grants[key] ??= new Set();
      grants[key].add(op.action);
    }
  }
  return {
    grants: Object.fromEntries(Object.entries(grants).map(([key, actions]) => [key, [...actions].sort()])),
    untold: [...new Set(untold)].sort(),
  };
}
