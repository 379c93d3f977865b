/**
 * What the ClickHouse HTTP interface over embedded chDB (`http-server.ts`) lets a statement do.
 * Pure: it reads what ClickHouse's own parser says about a statement — the `EXPLAIN AST` tree
 * and the normalized text of `formatQuerySingleLine` — and never parses SQL itself beyond
 * tokenizing that normalized text.
 *
 * chDB runs as ClickHouse's `default` user with every grant (`SHOW GRANTS`: SOURCES, TABLE
 * ENGINE, SYSTEM, …) and has no access management (`CREATE USER`, `REVOKE` are refused:
 * ACCESS_DENIED), so the restrictions of a real server's users cannot be configured; this
 * module refuses, for every user, what reaches the filesystem, processes or the network
 * (ClickHouse docs "Table functions", "Table engines", "SELECT … INTO OUTFILE",
 * "INSERT … FROM INFILE"), and tells read statements from writes. Whatever it cannot classify
 * is refused (fail closed).
 */
import { ClickHouseHttpError } from './http-error.js';

/** What a statement does: `read` (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN) or `write` (INSERT, DDL, mutations). */
export type StatementAccess = 'read' | 'write';

/** The classification of one allowed statement by {@link classifyStatement}. */
export interface StatementClass {
  readonly access: StatementAccess;
  /** Name of the statement's root `EXPLAIN AST` node, e.g. `SelectWithUnionQuery`, `InsertQuery`, `CreateQuery`. */
  readonly node: string;
  /**
   * For an INSERT that takes rows (inline after `FORMAT`/`VALUES`, or in the request body): the
   * format of the rows as ClickHouse names it, e.g. `JSONEachRow`, `Values`; null for every
   * other statement, `INSERT … SELECT` included.
   */
  readonly insertFormat: string | null;
}

/** One node of an `EXPLAIN AST` dump. */
export interface AstNode {
  /** First word of the line, e.g. `Function`, `TableExpression`, `Storage`, `AlterCommand`. */
  readonly name: string;
  /** Second word, e.g. the function name of a `Function` node; '' when none. */
  readonly arg: string;
  /** The line without its indentation and its `(children N)` suffix, e.g. `Storage definition`. */
  readonly label: string;
  readonly children: AstNode[];
}

/** Table functions a statement may use (lowercase): they generate or read rows of this server only. */
const TABLE_FUNCTIONS_ALLOWED: ReadonlySet<string> = new Set([
  'numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generate_series', 'generateseries', 'primes', 'values', 'null', 'view',
  'generaterandom', 'merge', 'format',
]);

/** Table engines `CREATE TABLE` may use (lowercase): data in the chDB directory, or in memory. */
const ENGINES_ALLOWED: ReadonlySet<string> = new Set([
  'mergetree', 'replacingmergetree', 'summingmergetree', 'aggregatingmergetree', 'collapsingmergetree', 'versionedcollapsingmergetree',
  'coalescingmergetree', 'graphitemergetree', 'memory', 'log', 'tinylog', 'stripelog', 'null', 'set', 'join', 'buffer', 'merge',
  'generaterandom',
]);

/**
 * Function names refused anywhere in a statement (lowercase): every table function and table
 * engine of chDB 3.4 (libchdb 26.7) that reaches files, processes, the network or other servers
 * (`system.table_functions`, `system.table_engines`), the scalar `file()` and
 * `catboostEvaluate()` (which read a path), and `disk()` (a custom disk at any path, in a
 * table's `SETTINGS`). Families by prefix: {@link DENIED_FUNCTION_PREFIX}.
 */
const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  'file', 'filecluster', 'filesystem', 'filelog', 'url', 'urlcluster', 'input', 'python', 'arrowstream', 'eval', 'executable', 'executablepool',
  'dictionary', 'distributed', 'loop', 'queryrunner', 'keepermap', 'embeddedrocksdb', 'kafka', 'timeseries', 'timeseriesdata',
  'timeseriesmetrics', 'timeseriessamples', 'timeseriesselector', 'timeseriestags', 'fuzzjson', 'fuzzquery', 'viewexplain', 'viewifpermitted',
  'sqlstandardvalues', 'mergetreeindex', 'mergetreeanalyzeindexes', 'mergetreeanalyzeindexesuuid', 'mergetreeprojection', 'mergetreetextindex',
  'windowview', 'alias', 'catboostevaluate', 'disk',
]);
/** Families of table functions and engines refused by name prefix (lowercase): `iceberg*`, `s3*`, `remote*`, `cluster*`, … */
const DENIED_FUNCTION_PREFIX = /^(?:iceberg|deltalake|hudi|paimon|azure|hdfs|s3|gcs|cosn|oss|ytsaurus|mysql|postgres|materializedpostgres|mongo|redis|sqlite|jdbc|odbc|executable|python|rabbitmq|nats|remote|cluster|replicated|prometheus)/;

/** Formats the rows of an INSERT may come in (lowercase): text formats whose rows chDB never reads as SQL. */
const INSERT_FORMATS: ReadonlySet<string> = new Set([
  'values', 'jsoneachrow', 'jsonlines', 'ndjson', 'jsonstringseachrow', 'jsoncompacteachrow', 'jsoncompactstringseachrow',
  'jsoncompacteachrowwithnames', 'jsoncompacteachrowwithnamesandtypes', 'jsoncompactstringseachrowwithnames',
  'jsoncompactstringseachrowwithnamesandtypes', 'csv', 'csvwithnames', 'csvwithnamesandtypes', 'tabseparated', 'tabseparatedraw',
  'tabseparatedwithnames', 'tabseparatedwithnamesandtypes', 'tabseparatedrawwithnames', 'tabseparatedrawwithnamesandtypes', 'tsv',
  'tsvraw', 'tsvwithnames', 'tsvwithnamesandtypes', 'tsvrawwithnames', 'tsvrawwithnamesandtypes',
]);

/**
 * Settings no request may set (lowercase), in the URL or a `SETTINGS` clause: `readonly` and
 * `allow_ddl` (once set on chDB's shared session they cannot be unset), the settings that change
 * how the next statement parses (`dialect`, `implicit_select`, `compatibility`,
 * `allow_settings_after_format_in_insert`), the ones this server pins
 * ({@link PINNED_SETTINGS}), and the rest of {@link DENIED_SETTING_PATTERN}.
 */
const DENIED_SETTINGS: ReadonlySet<string> = new Set([
  'readonly', 'allow_ddl', 'dialect', 'implicit_select', 'compatibility', 'allow_settings_after_format_in_insert',
  'input_format_values_interpret_expressions', 'input_format_values_deduce_templates_of_expressions', 'allow_python_table_function',
]);
/**
 * Setting names that read or write files or reach the network (`format_schema`,
 * `format_template_row`, `output_format_schema`, `input_format_record_errors_file_path`,
 * `format_avro_schema_registry_url`, `url_base`, …), choose a table engine
 * (`default_table_engine`), or enable experimental syntax.
 */
const DENIED_SETTING_PATTERN = /(?:^|_)(?:path|paths|file|files|filesystem|dir|schema|template|url|uri|disk|python|engine|outfile|infile|registry)(?:_|$)|^allow_experimental_/;

/**
 * Settings every statement of the HTTP interface runs with: INSERT … VALUES rows are literals
 * only (with expressions allowed, `VALUES (file('/etc/passwd'))` reads a file, and the
 * expression is in the rows, not in the AST this module checks); no Python table function; no
 * `implicit_select` (on by default in chDB: a text that is not a statement, e.g.
 * `file('/etc/passwd')`, would run as a SELECT; with it off, a statement runs as parsed for
 * `EXPLAIN AST`, which never takes that fallback).
 */
export const PINNED_SETTINGS: Readonly<Record<string, number>> = {
  input_format_values_interpret_expressions: 0,
  input_format_values_deduce_templates_of_expressions: 0,
  allow_python_table_function: 0,
  implicit_select: 0,
};

/** Statements that only read (`EXPLAIN AST` root node names). */
const READ_NODES: ReadonlySet<string> = new Set([
  'SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'ShowTables', 'ShowColumns', 'ShowFunctions', 'ShowEngineQuery',
  'ShowCreateTableQuery', 'ShowCreateDatabaseQuery', 'ShowCreateViewQuery', 'DescribeQuery', 'ExistsTableQuery', 'ExistsDatabaseQuery',
  'ExistsViewQuery', 'ExistsDictionaryQuery', 'ShowProcesslistQuery', 'Explain',
]);
/** Writing statements, by root node, with the start their normalized text must have. */
const WRITE_NODES: ReadonlyMap<string, RegExp> = new Map([
  ['InsertQuery', /^INSERT INTO (?!FUNCTION\b)/],
  ['CreateQuery', /^(?:CREATE(?: OR REPLACE)?|REPLACE)(?: TEMPORARY)? (?:TABLE|VIEW|MATERIALIZED VIEW)\b/],
  ['DropQuery', /^DROP (?:TEMPORARY )?(?:TABLE|VIEW)\b/],
  ['TruncateQuery', /^TRUNCATE (?:TEMPORARY )?TABLE\b/],
  ['Rename', /^(?:RENAME TABLE|EXCHANGE TABLES)\b/],
  ['OptimizeQuery', /^OPTIMIZE TABLE\b/],
  ['DeleteQuery', /^DELETE FROM\b/],
  ['AlterQuery', /^ALTER TABLE\b/],
]);
/** `ALTER TABLE` commands allowed (`AlterCommand` node types): no FREEZE, FETCH, ATTACH from detached parts, MOVE, MODIFY SETTING. */
const ALTER_COMMANDS_ALLOWED: ReadonlySet<string> = new Set([
  'ADD_COLUMN', 'DROP_COLUMN', 'MODIFY_COLUMN', 'COMMENT_COLUMN', 'RENAME_COLUMN', 'MATERIALIZE_COLUMN', 'ADD_INDEX', 'DROP_INDEX',
  'MATERIALIZE_INDEX', 'ADD_PROJECTION', 'DROP_PROJECTION', 'MATERIALIZE_PROJECTION', 'ADD_CONSTRAINT', 'DROP_CONSTRAINT',
  'MODIFY_ORDER_BY', 'MODIFY_TTL', 'REMOVE_TTL', 'MATERIALIZE_TTL', 'MODIFY_COMMENT', 'DELETE', 'UPDATE', 'DROP_PARTITION', 'REPLACE_PARTITION',
]);

function notAllowed(what: string): ClickHouseHttpError {
  return new ClickHouseHttpError(446, 'FUNCTION_NOT_ALLOWED', `${what} is not allowed on this server (statements stay inside the analytics data: no files, processes or network)`, 403);
}
function denied(what: string): ClickHouseHttpError {
  return new ClickHouseHttpError(497, 'ACCESS_DENIED', `${what} is not allowed on this server`, 403);
}

/**
 * The statement of a request's SQL text, ready to inspect and run: the text, without its final
 * run of `;` and whitespace when it ends with `;`. chDB runs every statement of a multi-statement text, and ClickHouse's
 * parser does not see a statement hidden after `INSERT … VALUES` rows, so a `;` anywhere else
 * (even inside a string literal: pass such a value as a query parameter) is refused.
 * @throws ClickHouseHttpError 62 SYNTAX_ERROR (HTTP 400) for an empty text or a `;` before the
 *   end ("Multi-statements are not allowed"); 36 BAD_ARGUMENTS (400) for a NUL character.
 */
export function statementText(sql: string): string {
  if (sql.includes('\0')) throw new ClickHouseHttpError(36, 'BAD_ARGUMENTS', 'The query contains a NUL character');
  const semi = sql.indexOf(';');
  if (semi >= 0 && !/^[;\s]*$/.test(sql.slice(semi))) {
    throw new ClickHouseHttpError(62, 'SYNTAX_ERROR', `Multi-statements are not allowed: a ';' may only end the statement (failed at position ${semi + 1}); pass a value holding ';' as a query parameter`);
  }
  const stmt = semi >= 0 ? sql.slice(0, semi) : sql;
  if (stmt.trim() === '') throw new ClickHouseHttpError(62, 'SYNTAX_ERROR', 'Empty query');
  return stmt;
}

/**
 * Checks the rows of an `INSERT … VALUES` sent as the request body: chDB splits `Values` rows
 * at a `;` and runs what follows as another statement, so a body holding `;` is refused.
 * @throws ClickHouseHttpError 62 SYNTAX_ERROR (HTTP 400).
 */
export function checkValuesRows(rows: Buffer): void {
  if (rows.includes(0x3b)) throw new ClickHouseHttpError(62, 'SYNTAX_ERROR', "Multi-statements are not allowed: VALUES rows may not contain ';' on this server (use a JSON or CSV format for such values)");
}

/**
 * Checks a setting a request sets (a URL parameter, or a `SETTINGS` clause of the statement).
 * @throws ClickHouseHttpError 452 SETTING_CONSTRAINT_VIOLATION (HTTP 403) naming the setting
 *   when it is one of the refused settings (see the module's lists), or 115 UNKNOWN_SETTING
 *   (HTTP 400) when `name` is not a setting name at all.
 */
export function checkSettingName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ClickHouseHttpError(115, 'UNKNOWN_SETTING', `Unknown setting ${JSON.stringify(name)}`, 400);
  const lower = name.toLowerCase();
  if (DENIED_SETTINGS.has(lower) || DENIED_SETTING_PATTERN.test(lower)) {
    throw new ClickHouseHttpError(452, 'SETTING_CONSTRAINT_VIOLATION', `Setting ${name} should not be changed: this server refuses settings that reach files or the network, change how statements parse, or lock its shared session`, 403);
  }
}

/**
 * Checks the value of a setting sent as a URL parameter. The chDB connection applies settings as
 * `SET name = '<value>'` statements in front of the request's statement, escaping only `'`, so a
 * value holding `\'` could end the literal and append statements: quotes, backslashes, `;` and
 * control characters are refused (no setting needs them; a `';'` CSV delimiter can go in the
 * statement's own `SETTINGS` clause).
 * @throws ClickHouseHttpError 36 BAD_ARGUMENTS (HTTP 400) naming the setting.
 */
export function checkSettingValue(name: string, value: string): void {
  if (/['"`\\;\p{Cc}]/u.test(value)) {
    throw new ClickHouseHttpError(36, 'BAD_ARGUMENTS', `The value of setting ${name} holds a quote, a backslash, ';' or a control character, which this server does not take in a URL parameter`);
  }
}

/** Whether `name` (any case) is a function, table function or engine refused everywhere. */
export function isDeniedFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return DENIED_FUNCTIONS.has(lower) || DENIED_FUNCTION_PREFIX.test(lower);
}

/**
 * Parses the text of `EXPLAIN AST <statement>` (one node per line, indented by depth, `(children
 * N)` at the end of a node with children) into its tree, checking that it is well formed: one
 * root, each line at most one level deeper than the previous one, and exactly N children under
 * each node that announces N. An identifier holding a line break prints as several lines and
 * fails these checks, so the tree cannot be forged from inside a statement.
 * @throws ClickHouseHttpError 497 ACCESS_DENIED (HTTP 403) when the text is not such a tree.
 */
export function parseExplainAst(text: string): AstNode {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const cannot = (): ClickHouseHttpError => denied('A statement this server cannot classify');
  const stack: Array<{ node: AstNode; depth: number; declared: number }> = [];
  let root: AstNode | undefined;
  const close = (upTo: number): void => {
    while (stack.length > upTo) {
      const top = stack.pop()!;
      if (top.node.children.length !== top.declared) throw cannot();
    }
  };
  for (const line of lines) {
    const depth = line.length - line.trimStart().length;
    let body = line.trim();
    if (body === '') throw cannot();
    let declared = 0;
    const m = / \(children (\d+)\)$/.exec(body);
    if (m) {
      declared = Number(m[1]);
      body = body.slice(0, m.index).trimEnd();
    }
    const words = body.split(/\s+/);
    const node: AstNode = { name: words[0] ?? '', arg: words[1] ?? '', label: body, children: [] };
    if (root === undefined) {
      if (depth !== 0) throw cannot();
      root = node;
      stack.push({ node, depth, declared });
      continue;
    }
    const prevDepth = stack[stack.length - 1]?.depth ?? -1;
    if (depth < 1 || depth > prevDepth + 1) throw cannot();
    close(depth);
    const parent = stack[stack.length - 1];
    if (!parent || parent.depth !== depth - 1) throw cannot();
    parent.node.children.push(node);
    stack.push({ node, depth, declared });
  }
  if (!root) throw cannot();
  close(0);
  return root;
}

/** A token of the normalized statement text. */
interface Token {
  readonly kind: 'ident' | 'quoted' | 'string' | 'number' | 'param' | 'punct';
  /** The identifier (unquoted), the punctuation character, or the raw text of other tokens. */
  readonly value: string;
}

/**
 * Tokenizes ClickHouse's normalized statement text (`formatQuerySingleLine`): identifiers
 * (bare, or quoted with backquotes / double quotes), string literals, numbers, `{name:Type}`
 * placeholders, punctuation. Comments are skipped.
 * @throws ClickHouseHttpError 497 on an unterminated quote or comment.
 */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const quoted = (q: string): string => {
    let v = '';
    for (i++; ; i++) {
      if (i >= text.length) throw denied('A statement this server cannot classify');
      const c = text[i]!;
      if (c === '\\' && i + 1 < text.length) { v += text[++i]; continue; }
      if (c === q) {
        if (text[i + 1] === q) { v += q; i++; continue; }
        i++;
        return v;
      }
      v += c;
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '-' && text[i + 1] === '-') { while (i < text.length && text[i] !== '\n') i++; continue; }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw denied('A statement this server cannot classify');
      i = end + 2;
      continue;
    }
    if (c === "'") { out.push({ kind: 'string', value: quoted("'") }); continue; }
    if (c === '`' || c === '"') { out.push({ kind: 'quoted', value: quoted(c) }); continue; }
    if (c === '{') {
      const end = text.indexOf('}', i);
      if (end < 0) throw denied('A statement this server cannot classify');
      out.push({ kind: 'param', value: text.slice(i, end + 1) });
      i = end + 1;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i, i + 256));
    if (ident) { out.push({ kind: 'ident', value: ident[0] }); i += ident[0].length; continue; }
    const num = /^[0-9][0-9A-Za-z_.]*/.exec(text.slice(i, i + 256));
    if (num) { out.push({ kind: 'number', value: num[0] }); i += num[0].length; continue; }
    out.push({ kind: 'punct', value: c });
    i++;
  }
  return out;
}

const isName = (t: Token | undefined): t is Token => t !== undefined && (t.kind === 'ident' || t.kind === 'quoted');
const isWord = (t: Token | undefined, word: string): boolean => t?.kind === 'ident' && t.value.toUpperCase() === word;

/** Index after the balanced bracket group starting at `tokens[i]` (`(` or `[`). */
function skipGroup(tokens: readonly Token[], i: number): number {
  let depth = 0;
  for (; i < tokens.length; i++) {
    const v = tokens[i]!.kind === 'punct' ? tokens[i]!.value : '';
    if (v === '(' || v === '[') depth++;
    else if ((v === ')' || v === ']') && --depth === 0) return i + 1;
  }
  throw denied('A statement this server cannot classify');
}

/**
 * Checks the normalized text's tokens: every function call (`name(`) against the refused
 * functions, `INTO OUTFILE` / `FROM INFILE`, and every setting of a `SETTINGS` / `SETTING`
 * list (`name = value, …`: query settings, INSERT settings, a table's engine settings,
 * `MODIFY SETTING`). `Set` nodes of `EXPLAIN AST` do not show their settings; this does.
 */
function checkTokens(tokens: readonly Token[]): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (isName(t) && next?.kind === 'punct' && next.value === '(' && isDeniedFunction(t.value)) throw notAllowed(`Function ${t.value}`);
    if (isWord(t, 'INTO') && isWord(next, 'OUTFILE')) throw denied('SELECT … INTO OUTFILE (writing a file)');
    if (isWord(t, 'FROM') && isWord(next, 'INFILE')) throw denied('INSERT … FROM INFILE (reading a file)');
    if (t.kind === 'ident' && (t.value === 'SETTINGS' || t.value === 'SETTING') && isName(next) && tokens[i + 2]?.value === '=') {
      let j = i + 1;
      for (;;) {
        const name = tokens[j];
        if (!isName(name) || tokens[j + 1]?.kind !== 'punct' || tokens[j + 1]?.value !== '=') break;
        checkSettingName(name.value);
        j += 2;
        if (tokens[j]?.kind === 'punct' && (tokens[j]!.value === '-' || tokens[j]!.value === '+')) j++;
        if (tokens[j]?.kind === 'punct' && (tokens[j]!.value === '(' || tokens[j]!.value === '[')) j = skipGroup(tokens, j);
        else j++;
        if (tokens[j]?.kind === 'punct' && tokens[j]!.value === '(') j = skipGroup(tokens, j);
        if (tokens[j]?.kind !== 'punct' || tokens[j]!.value !== ',') break;
        j++;
      }
    }
  }
}

/** Checks every node of the tree (see {@link classifyStatement}). */
function checkTree(root: AstNode): void {
  const pending: Array<{ node: AstNode; parent: AstNode | null; index: number }> = [{ node: root, parent: null, index: 0 }];
  while (pending.length > 0) {
    const { node, parent, index } = pending.pop()!;
    node.children.forEach((child, i) => pending.push({ node: child, parent: node, index: i }));
    if (node.name === 'Function') {
      const fn = node.arg;
      const lower = fn.toLowerCase();
      const at = parent?.name;
      if (at === 'TableExpression' || at === 'CreateQuery') {
        if (!TABLE_FUNCTIONS_ALLOWED.has(lower)) throw notAllowed(`Table function ${fn}`);
      } else if (at === 'InsertQuery') {
        throw notAllowed(`INSERT INTO FUNCTION ${fn}`);
      } else if (parent?.label === 'Storage definition' && index === 0) {
        if (!ENGINES_ALLOWED.has(lower)) throw notAllowed(`Table engine ${fn}`);
      }
      if (isDeniedFunction(fn)) throw notAllowed(`Function ${fn}`);
    } else if (node.name === 'FunctionWithKeyValueArguments' || node.label.startsWith('Dictionary definition')) {
      throw notAllowed('A dictionary (CREATE DICTIONARY and its SOURCE)');
    } else if (node.name === 'Literal' && parent?.name === 'InsertQuery') {
      throw denied('INSERT … FROM INFILE (reading a file)');
    } else if (node.name === 'Literal' && (parent?.name === 'SelectWithUnionQuery' || (parent === root && root.name !== 'CreateQuery'))) {
      // A query with output (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN) holds its INTO OUTFILE path as a Literal child.
      throw denied('… INTO OUTFILE (writing a file)');
    } else if (node.name === 'AlterCommand' && !ALTER_COMMANDS_ALLOWED.has(node.arg)) {
      throw denied(`ALTER TABLE command ${node.arg}`);
    }
  }
}

/**
 * Classifies one statement from what ClickHouse's parser says about it, or refuses it:
 * - the root node must be a read statement (SELECT / WITH … SELECT / UNION / INTERSECT /
 *   EXCEPT, SHOW TABLES|DATABASES|COLUMNS|CREATE…|PROCESSLIST, DESCRIBE, EXISTS, EXPLAIN of a read
 *   statement) or one of the writes INSERT INTO <table>, CREATE [OR REPLACE|TEMPORARY]
 *   TABLE|VIEW|MATERIALIZED VIEW, DROP TABLE|VIEW, TRUNCATE TABLE, RENAME TABLE, EXCHANGE
 *   TABLES, OPTIMIZE TABLE, DELETE FROM, ALTER TABLE (the commands of
 *   {@link ALTER_COMMANDS_ALLOWED}); everything else (SYSTEM, BACKUP, RESTORE, ATTACH, DETACH,
 *   SET, USE, KILL, GRANT, CREATE DATABASE|DICTIONARY|FUNCTION|USER, …) is refused;
 * - table functions only from {@link TABLE_FUNCTIONS_ALLOWED}, table engines only from
 *   {@link ENGINES_ALLOWED}, no INSERT INTO FUNCTION, no dictionary definitions, no INTO
 *   OUTFILE, no FROM INFILE, no function of {@link DENIED_FUNCTIONS} / {@link DENIED_FUNCTION_PREFIX}
 *   anywhere (case-insensitively), no refused setting in a SETTINGS clause
 *   ({@link checkSettingName});
 * - an INSERT that takes rows must name a text format of {@link INSERT_FORMATS}.
 * @param explainAst the output of `EXPLAIN AST <statement>` (TSVRaw), with the request's
 *   query parameters bound.
 * @param normalized the output of `SELECT formatQuerySingleLine(<statement>)`.
 * @throws ClickHouseHttpError naming what is refused: 446 FUNCTION_NOT_ALLOWED for functions,
 *   table functions and engines; 497 ACCESS_DENIED for statements and clauses; 452
 *   SETTING_CONSTRAINT_VIOLATION for settings (all HTTP 403).
 */
export function classifyStatement(explainAst: string, normalized: string): StatementClass {
  const root = parseExplainAst(explainAst);
  const tokens = tokenize(normalized);
  // Functions, engines, clauses and settings first: their refusals name what is refused.
  checkTree(root);
  checkTokens(tokens);
  const head = normalized.trimStart();
  const statement = (words: number): string => `Statement ${JSON.stringify(head.split(/\s+/).slice(0, words).join(' '))}`;
  let access: StatementAccess;
  if (READ_NODES.has(root.name)) {
    access = 'read';
    if (root.name === 'Explain' && !root.children.every((c) => c.name === 'Set' || c.name === 'Identifier' || (READ_NODES.has(c.name) && c.name !== 'Explain'))) {
      throw denied('EXPLAIN of a statement other than a read');
    }
  } else {
    const start = WRITE_NODES.get(root.name);
    if (!start || !start.test(head)) throw denied(statement(start ? 3 : 2));
    access = 'write';
  }
  let insertFormat: string | null = null;
  if (root.name === 'InsertQuery' && !root.children.some((c) => c.name === 'SelectWithUnionQuery')) {
    const last = tokens[tokens.length - 1];
    if (!isWord(tokens[tokens.length - 2], 'FORMAT') || !isName(last)) throw denied('An INSERT without FORMAT, VALUES or SELECT');
    if (!INSERT_FORMATS.has(last.value.toLowerCase())) {
      throw denied(`INSERT rows in format ${last.value} (this server takes Values, the JSON*EachRow, CSV and TabSeparated families)`);
    }
    insertFormat = last.value;
  }
  return { access, node: root.name, insertFormat };
}
