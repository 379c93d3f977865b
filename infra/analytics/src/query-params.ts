/**
 * Query parameters of the ClickHouse HTTP interface (`http-server.ts`): `param_<name>` URL
 * parameters in ClickHouse's escaped text form, turned back into values for
 * `@clickhouse/client`'s `query_params` (ClickHouse docs "Queries with parameters").
 */
import { TupleParam } from '@clickhouse/client';
import { ClickHouseHttpError } from './http-error.js';

/**
 * The placeholder types of a statement, `{name:Type}` → name → Type (the first one when a name
 * occurs with several types).
 */
function placeholderTypes(sql: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of sql.matchAll(/\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/g)) {
    if (m[1] && m[2] && !types.has(m[1])) types.set(m[1], m[2]);
  }
  return types;
}

function isComposite(type: string | undefined): boolean {
  if (type === undefined) return false;
  let t = type.trim();
  for (let m = /^(?:Nullable|LowCardinality)\s*\((.*)\)$/s.exec(t); m; m = /^(?:Nullable|LowCardinality)\s*\((.*)\)$/s.exec(t)) t = (m[1] ?? '').trim();
  return /^(?:Array|Map|Tuple|Nested)\s*\(/i.test(t);
}

/**
 * Turns `param_<name>` values (ClickHouse's escaped text form, as `@clickhouse/client`'s
 * `formatQueryParams` writes them) back into values that the client re-serializes to the same
 * meaning: `\N` → null; composite types (Array, Map, Tuple, also inside Nullable /
 * LowCardinality) → arrays, `Map`s, `TupleParam`s parsed from their literal; every other type →
 * the unescaped string.
 * @throws Error (answered as `Code: 457 … (BAD_QUERY_PARAMETER)`, HTTP 400) when a composite
 *   literal does not parse.
 */
export function decodeQueryParams(sql: string, raw: ReadonlyMap<string, string>): Record<string, unknown> {
  if (raw.size === 0) return {};
  const types = placeholderTypes(sql);
  const out: Record<string, unknown> = {};
  for (const [name, value] of raw) {
    if (value === '\\N') { out[name] = null; continue; }
    const type = types.get(name);
    if (isComposite(type)) {
      try {
        out[name] = parseLiteral(value);
      } catch (err) {
        throw new ClickHouseHttpError(457, 'BAD_QUERY_PARAMETER', `Value ${JSON.stringify(value)} cannot be parsed as ${type} for query parameter '${name}': ${(err as Error).message}`, 400);
      }
    } else {
      out[name] = unescapeText(value);
    }
  }
  return out;
}

const ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', 0: '\0' };

/** ClickHouse's escaped text (TabSeparated / query parameter form): `\t`, `\n`, `\\`, `\'`, `\xHH`, …; an unknown escape is the character itself. */
function unescapeText(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) { out += c; continue; }
    const e = s[++i]!;
    if (e === 'x' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out += ESCAPES[e] ?? e;
    }
  }
  return out;
}

/** Parses a ClickHouse literal: arrays `[…]`, tuples `(…)`, maps `{k:v}`, quoted strings, numbers, NULL, true/false. */
function parseLiteral(s: string): unknown {
  let i = 0;
  const ws = (): void => { while (i < s.length && /\s/.test(s[i]!)) i++; };
  const expect = (c: string): void => {
    ws();
    if (s[i] !== c) throw new Error(`expected ${c} at ${i}`);
    i++;
  };
  function list(close: string, item: () => void): void {
    ws();
    if (s[i] === close) { i++; return; }
    for (;;) {
      item();
      ws();
      if (s[i] === ',') { i++; continue; }
      expect(close);
      return;
    }
  }
  function quoted(): string {
    const q = s[i++]!;
    let out = '';
    for (;;) {
      if (i >= s.length) throw new Error('unterminated string');
      const c = s[i++]!;
      if (c === q) {
        if (s[i] === q) { out += q; i++; continue; }
        return out;
      }
      if (c !== '\\') { out += c; continue; }
      if (i >= s.length) throw new Error('unterminated string');
      const e = s[i++]!;
      if (e === 'x' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i, i + 2))) {
        out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
        i += 2;
      } else {
        out += ESCAPES[e] ?? e;
      }
    }
  }
  function value(): unknown {
    ws();
    const c = s[i];
    if (c === undefined) throw new Error('unexpected end');
    if (c === '[') { i++; const out: unknown[] = []; list(']', () => out.push(value())); return out; }
    if (c === '(') { i++; const out: unknown[] = []; list(')', () => out.push(value())); return new TupleParam(out); }
    if (c === '{') {
      i++;
      const out = new Map<unknown, unknown>();
      list('}', () => { const k = value(); expect(':'); out.set(k, value()); });
      return out;
    }
    if (c === "'" || c === '"') return quoted();
    const m = /^[^\s,\]):}]+/.exec(s.slice(i));
    if (!m) throw new Error(`unexpected ${c} at ${i}`);
    i += m[0].length;
    const token = m[0];
    if (/^null$/i.test(token)) return null;
    if (/^true$/i.test(token)) return true;
    if (/^false$/i.test(token)) return false;
    if (/^[-+]?\d+$/.test(token)) {
      const v = Number(token);
      return Number.isSafeInteger(v) ? v : BigInt(token);
    }
    const v = Number(token);
    if (Number.isNaN(v)) throw new Error(`not a literal: ${token}`);
    return v;
  }
  const v = value();
  ws();
  if (i !== s.length) throw new Error(`trailing text at ${i}`);
  return v;
}
