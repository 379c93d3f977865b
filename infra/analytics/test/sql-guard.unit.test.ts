/**
 * The pure parts of the ClickHouse HTTP interface's protection: statement text checks, the
 * `EXPLAIN AST` tree reader and classifier (on dumps as chDB 3.4 prints them), setting names,
 * and credentials. The same rules against real chDB: http-server.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkSettingName, classifyStatement, isDeniedFunction, parseExplainAst, statementText } from '../src/sql-guard.js';
import { createUserDirectory, credentialsOf } from '../src/http-auth.js';
import { ClickHouseHttpError, httpStatusOfCode } from '../src/http-error.js';

/** `EXPLAIN AST` dumps printed by chDB 3.4 (TSVRaw). */
const AST = {
  select: `SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier t
`,
  selectFile: `SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      Function file (children 1)
       ExpressionList (children 2)
        Literal '/etc/hostname'
        Literal 'RawBLOB'
`,
  insert: `InsertQuery   (children 1)
 Identifier t
`,
  createFile: `CreateQuery f (children 3)
 Identifier f
 Columns definition (children 1)
  ExpressionList (children 1)
   ColumnDeclaration a (children 1)
    DataType UInt8
 Storage definition (children 1)
  Function File (children 1)
   ExpressionList (children 2)
    Identifier CSV
    Literal '/tmp/z'
`,
  createAs: `CreateQuery g (children 1)
 Identifier g
`,
  createDatabase: `CreateQuery d  (children 2)
 Identifier d
 Storage definition (children 1)
  Function Atomic
`,
  outfile: `SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 1)
   ExpressionList (children 1)
    Literal UInt64_1
 Literal '/tmp/x'
`,
  system: 'SYSTEM query\n',
  alterFreeze: `AlterQuery  t (children 2)
 ExpressionList (children 1)
  AlterCommand FREEZE_ALL
 Identifier t
`,
};

function refusal(f: () => unknown): ClickHouseHttpError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ClickHouseHttpError);
    return err as ClickHouseHttpError;
  }
  throw new Error('not refused');
}

describe('statementText', () => {
  it('takes one statement, a final ";" at most', () => {
    expect(statementText('SELECT 1')).toBe('SELECT 1');
    expect(statementText('SELECT 1;\n ;; ')).toBe('SELECT 1');
    expect(refusal(() => statementText('SELECT 1; DROP TABLE t'))).toMatchObject({ code: 62, type: 'SYNTAX_ERROR', status: 400 });
    expect(refusal(() => statementText("SELECT ';'"))).toMatchObject({ code: 62 });
    expect(refusal(() => statementText('  ;'))).toMatchObject({ code: 62, message: 'Empty query' });
    expect(refusal(() => statementText('SELECT 1\0'))).toMatchObject({ code: 36, status: 400 });
  });
});

describe('checkSettingName and isDeniedFunction', () => {
  it('refuses settings that name paths or lock the session, and lets ordinary ones through', () => {
    for (const name of ['format_schema', 'format_template_row', 'output_format_schema', 'input_format_record_errors_file_path', 'url_base', 'readonly', 'allow_ddl', 'dialect', 'default_table_engine', 'allow_experimental_analyzer', 'implicit_select']) {
      expect(refusal(() => checkSettingName(name)), name).toMatchObject({ code: 452, type: 'SETTING_CONSTRAINT_VIOLATION', status: 403 });
    }
    for (const name of ['output_format_json_quote_64bit_integers', 'max_threads', 'force_grouping_standard_compatibility', 'date_time_input_format', 'max_execution_time']) {
      expect(() => checkSettingName(name), name).not.toThrow();
    }
    expect(refusal(() => checkSettingName('a-b'))).toMatchObject({ code: 115 });
  });

  it('denies the functions and engines that reach files, processes or the network, in any case', () => {
    for (const name of ['file', 'FILE', 'url', 's3', 'S3Cluster', 'remoteSecure', 'clusterAllReplicas', 'icebergS3', 'deltaLake', 'python', 'executable', 'input', 'MySQL', 'Distributed', 'disk']) {
      expect(isDeniedFunction(name), name).toBe(true);
    }
    for (const name of ['count', 'uniqExact', 'toStartOfMinute', 'URLHash', 'numbers', 'quantilesExactInclusiveIf']) expect(isDeniedFunction(name), name).toBe(false);
  });
});

describe('parseExplainAst', () => {
  it('reads the tree, and refuses a dump a statement could have forged', () => {
    const root = parseExplainAst(AST.select);
    expect(root.name).toBe('SelectWithUnionQuery');
    expect(root.children[0]?.children[0]?.children.map((c) => c.name)).toEqual(['ExpressionList', 'TablesInSelectQuery']);
    // An identifier with a line break: a second root, a wrong child count, a jump in depth.
    expect(refusal(() => parseExplainAst('SelectWithUnionQuery (children 1)\n Identifier x\ny\n'))).toMatchObject({ code: 497 });
    expect(refusal(() => parseExplainAst('SelectWithUnionQuery (children 1)\n Identifier x\n Function file\n'))).toMatchObject({ code: 497 });
    expect(refusal(() => parseExplainAst('SelectWithUnionQuery (children 1)\n   Function file\n'))).toMatchObject({ code: 497 });
    expect(refusal(() => parseExplainAst(''))).toMatchObject({ code: 497 });
  });
});

describe('classifyStatement', () => {
  it('tells reads from writes', () => {
    expect(classifyStatement(AST.select, 'SELECT * FROM t')).toEqual({ access: 'read', node: 'SelectWithUnionQuery', insertFormat: null });
    expect(classifyStatement(AST.insert, 'INSERT INTO t FORMAT JSONEachRow')).toEqual({ access: 'write', node: 'InsertQuery', insertFormat: 'JSONEachRow' });
    expect(classifyStatement(AST.createAs, 'CREATE TABLE g AS t')).toMatchObject({ access: 'write' });
  });

  it('refuses, naming it, what reaches files, processes or the network', () => {
    expect(refusal(() => classifyStatement(AST.selectFile, "SELECT * FROM file('/etc/hostname', 'RawBLOB')"))).toMatchObject({ code: 446, message: expect.stringMatching(/^Table function file is not allowed/) });
    expect(refusal(() => classifyStatement(AST.createFile, "CREATE TABLE f (`a` UInt8) ENGINE = File(CSV, '/tmp/z')"))).toMatchObject({ code: 446, message: expect.stringMatching(/^Table engine File/) });
    expect(refusal(() => classifyStatement(AST.outfile, "SELECT 1 INTO OUTFILE '/tmp/x'"))).toMatchObject({ code: 497, message: expect.stringMatching(/INTO OUTFILE/) });
    expect(refusal(() => classifyStatement(AST.system, 'SYSTEM FLUSH LOGS'))).toMatchObject({ code: 497, status: 403 });
    expect(refusal(() => classifyStatement(AST.alterFreeze, 'ALTER TABLE t (FREEZE)'))).toMatchObject({ code: 497, message: expect.stringMatching(/FREEZE_ALL/) });
    expect(refusal(() => classifyStatement(AST.createDatabase, 'CREATE DATABASE d ENGINE = Atomic'))).toMatchObject({ status: 403 });
    expect(refusal(() => classifyStatement(AST.createAs.replace('CreateQuery g', 'CreateQuery d '), 'CREATE DATABASE d'))).toMatchObject({ code: 497, message: expect.stringMatching(/^Statement "CREATE DATABASE d"/) });
    // What EXPLAIN AST does not show: settings and functions inside SETTINGS, scalar calls in the text.
    expect(refusal(() => classifyStatement(AST.select, "SELECT * FROM t SETTINGS max_threads = 1, format_schema = '/etc/passwd'"))).toMatchObject({ code: 452 });
    expect(refusal(() => classifyStatement(AST.createAs, "CREATE TABLE g AS t SETTINGS storage_policy = 'x', d = disk(type = 'local', path = '/tmp/')"))).toMatchObject({ code: 446 });
    expect(refusal(() => classifyStatement(AST.insert, 'INSERT INTO t FORMAT RowBinary'))).toMatchObject({ code: 497 });
    expect(refusal(() => classifyStatement(AST.insert, "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT TSV"))).toMatchObject({ code: 497 });
  });
});

describe('credentials', () => {
  const users = createUserDirectory([{ name: 'reader', password: 'r-pw', readonly: true }, { name: 'writer', password: 'w:pw', readonly: false }]);
  const basic = (s: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` });

  it('reads Basic auth, X-ClickHouse headers and URL parameters, one method at a time', () => {
    expect(credentialsOf(basic('writer:w:pw'), new URLSearchParams())).toEqual({ name: 'writer', password: 'w:pw', method: 'basic' });
    expect(credentialsOf({ 'x-clickhouse-user': 'reader', 'x-clickhouse-key': 'r-pw' }, new URLSearchParams())).toMatchObject({ name: 'reader', password: 'r-pw' });
    expect(credentialsOf({}, new URLSearchParams('user=reader&password=r-pw'))).toMatchObject({ name: 'reader', password: 'r-pw', method: 'params' });
    expect(credentialsOf({}, new URLSearchParams())).toEqual({ name: 'default', password: '', method: 'none' });
    expect(refusal(() => credentialsOf(basic('a:b'), new URLSearchParams('user=a')))).toMatchObject({ code: 516, status: 401 });
    expect(refusal(() => credentialsOf({ 'x-clickhouse-user': 'a' }, new URLSearchParams('password=b')))).toMatchObject({ code: 516 });
    expect(refusal(() => credentialsOf({ authorization: 'Bearer x' }, new URLSearchParams()))).toMatchObject({ code: 516 });
  });

  it('authenticates by name and password, and refuses anything else with ClickHouse\'s message', () => {
    expect(users.authenticate({ name: 'writer', password: 'w:pw', method: 'basic' })).toEqual({ name: 'writer', password: 'w:pw', readonly: false });
    expect(users.authenticate({ name: 'reader', password: 'r-pw', method: 'basic' }).readonly).toBe(true);
    for (const c of [{ name: 'writer', password: 'r-pw' }, { name: 'reader', password: '' }, { name: 'nobody', password: 'w:pw' }]) {
      expect(refusal(() => users.authenticate({ ...c, method: 'basic' }))).toMatchObject({
        code: 516, type: 'AUTHENTICATION_FAILED', status: 401, message: `${c.name}: Authentication failed: password is incorrect, or there is no user with such name.`,
      });
    }
    expect(refusal(() => users.authenticate({ name: 'bad\nname', password: 'x', method: 'basic' })).message).toMatch(/^Authentication failed/);
  });

  it('refuses a configuration without users, with an empty password or a repeated name', () => {
    expect(() => createUserDirectory([])).toThrow(TypeError);
    expect(() => createUserDirectory([{ name: 'a', password: '', readonly: true }])).toThrow(/non-empty password/);
    expect(() => createUserDirectory([{ name: 'a', password: 'x', readonly: true }, { name: 'a', password: 'y', readonly: false }])).toThrow(/twice/);
    expect(() => createUserDirectory([{ name: 'a:b', password: 'x', readonly: true }])).toThrow(TypeError);
  });
});

describe('httpStatusOfCode', () => {
  it('maps codes as ClickHouse does', () => {
    expect([62, 60, 516, 497, 164, 194, 229].map(httpStatusOfCode)).toEqual([400, 404, 403, 403, 500, 401, 413]);
  });
});
