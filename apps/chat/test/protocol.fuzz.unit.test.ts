/**
 * Property-based fuzzing (fast-check) of the chat protocol's client-frame parser: any text (JSON
 * or not, or bytes decoded as UTF-8) gives a frame or a problem whose code is in the chat error
 * catalogue (`ChatErrorCode` of @live/events); it never throws; accepted frames are stable under
 * re-encoding; and frames built from the protocol's own shapes are accepted as they are.
 * Fixed seed; fast-check prints seed and counterexample on a failure.
 */
import fc from 'fast-check';
import { ok } from '@live/dev/fuzz';
import { describe, expect, it, vi } from 'vitest';
import { CHAT_MAX_FRAME_BYTES, EMOTES, MAX_SLOW_MODE_SECONDS, MAX_TIMEOUT_SECONDS, type ChatClientFrame, type ChatErrorCode } from '@live/events';
import { parseClientFrame, type ParsedFrame } from '../src/protocol.js';

// 10,000 runs per property; on a loaded machine that can exceed Vitest's default 5 s per test.
vi.setConfig({ testTimeout: 120_000 });

const RUNS = 10_000;
const SEED = 0x15f0_0001;
const opts = { numRuns: RUNS, seed: SEED };

/** What parseClientFrame documents (shapes only); typed, so each is a code of the chat catalogue (`ChatErrorCode`). */
const PARSER_CODES: ReadonlySet<ChatErrorCode> = new Set<ChatErrorCode>(['BAD_FRAME', 'UNKNOWN_TYPE', 'INVALID_FIELD']);
const REF = /^[\x21-\x7e]{1,64}$/;


/** Checks the invariants of one answer; returns it. */
function check(text: string): ParsedFrame {
  const r = parseClientFrame(text); // a throw fails the property
  if (!r.ok) {
    ok(PARSER_CODES.has(r.code), `code ${r.code}`);
    ok(typeof r.message === 'string' && r.message.length > 0, 'a message');
    ok(r.ref === undefined || REF.test(r.ref), 'ref echoed only when valid');
    JSON.stringify(r); // an error frame is sent back as JSON: the problem must serialise
    return r;
  }
  ok(['auth', 'message', 'emote', 'report', 'moderate', 'ping'].includes(r.frame.type), `type ${r.frame.type}`);
  ok(r.frame.ref === undefined || REF.test(r.frame.ref), 'valid ref');
  // an accepted frame, sent again, is accepted as the same frame
  const again = parseClientFrame(JSON.stringify(r.frame));
  ok(JSON.stringify(again) === JSON.stringify(r), `stable: ${JSON.stringify(r)} then ${JSON.stringify(again)}`);
  return r;
}

// JSON values shaped like frames: the protocol's keys and values, mixed with anything.
const TYPES = ['auth', 'message', 'emote', 'report', 'moderate', 'ping', 'pong', 'Message', '', '__proto__', 'constructor', 'toString'];
const KEYS = ['type', 'ref', 'token', 'text', 'emote', 'messageId', 'reason', 'action', 'kind', 'userId', 'durationSeconds', 'settings',
  'slowModeSeconds', 'followersOnly', 'emoteOnly', 'linksAllowed', 'duplicateFilter', '__proto__', 'constructor', 'extra'];
const leaf = fc.oneof(
  fc.constantFrom(...TYPES, ...EMOTES, 'delete', 'timeout', 'ban', 'unban', 'settings', 'u1', 'm-1', 'a'.repeat(129), 'x'.repeat(201), ' ', 'ref 1'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.integer({ min: -2, max: MAX_TIMEOUT_SECONDS + 2 }),
  fc.constantFrom(0, 1, -0, 0.5, MAX_SLOW_MODE_SECONDS, MAX_SLOW_MODE_SECONDS + 1, MAX_TIMEOUT_SECONDS, 1e300, Number.MAX_SAFE_INTEGER + 2),
  fc.boolean(),
  fc.constant(null),
);
const { value: frameish } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, leaf, tie('object'), fc.array(tie('value'), { maxLength: 3 })),
  object: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), tie('value')), { maxLength: 5 }).map((entries) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  }),
}));

describe('parseClientFrame (fuzz)', () => {
  it('any text: a frame or a catalogue problem, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.json({ maxDepth: 3 })), (text) => {
        check(text);
      }),
      opts,
    );
  });

  it('any bytes decoded as UTF-8 (what a WebSocket text frame carries), up to the frame limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: CHAT_MAX_FRAME_BYTES }), (bytes, pad) => {
        check(Buffer.from(bytes).toString('utf8'));
        // a frame-sized JSON text: a long string value inside an otherwise valid message frame
        if (pad % 97 === 0) check(`{"type":"message","text":${JSON.stringify('x'.repeat(pad))}}`);
      }),
      opts,
    );
  });

  it('JSON values shaped like frames (protocol keys, edge-case values, __proto__): a frame or a catalogue problem', () => {
    fc.assert(
      fc.property(frameish, fc.oneof(fc.constantFrom(...TYPES), fc.anything({ maxDepth: 1 })), (v, type) => {
        check(JSON.stringify(v) ?? 'undefined');
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
          const withType = JSON.stringify({ ...v, type });
          if (withType !== undefined) check(withType);
        }
      }),
      opts,
    );
  });

  const refArb = fc.option(fc.stringMatching(/^[\x21-\x7e]{1,64}$/), { nil: undefined });
  const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/);
  const reasonArb = fc.string({ maxLength: 200 });
  const settingsArb = fc.record(
    { slowModeSeconds: fc.integer({ min: 0, max: MAX_SLOW_MODE_SECONDS }), followersOnly: fc.boolean(), emoteOnly: fc.boolean(), linksAllowed: fc.boolean(), duplicateFilter: fc.boolean() },
    { requiredKeys: [] },
  ).filter((s) => Object.keys(s).length > 0);
  const actionArb = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), messageId: idArb, reason: fc.string({ minLength: 1, maxLength: 200 }) }, { requiredKeys: ['kind', 'messageId'] }),
    fc.record({ kind: fc.constant('timeout' as const), userId: idArb, durationSeconds: fc.integer({ min: 1, max: MAX_TIMEOUT_SECONDS }), reason: fc.string({ minLength: 1, maxLength: 200 }) }, { requiredKeys: ['kind', 'userId', 'durationSeconds'] }),
    fc.record({ kind: fc.constant('ban' as const), userId: idArb, reason: fc.string({ minLength: 1, maxLength: 200 }) }, { requiredKeys: ['kind', 'userId'] }),
    fc.record({ kind: fc.constant('unban' as const), userId: idArb }),
    fc.record({ kind: fc.constant('settings' as const), settings: settingsArb }),
  );
  const validFrame: fc.Arbitrary<ChatClientFrame> = fc.tuple(
    fc.oneof(
      fc.record({ type: fc.constant('auth' as const), token: fc.string({ minLength: 1, maxLength: 300 }) }),
      fc.record({ type: fc.constant('message' as const), text: fc.string({ maxLength: 300 }) }),
      fc.record({ type: fc.constant('emote' as const), emote: fc.constantFrom(...EMOTES) }),
      fc.record({ type: fc.constant('report' as const), messageId: idArb, reason: reasonArb }),
      fc.record({ type: fc.constant('moderate' as const), action: actionArb }),
      fc.constant({ type: 'ping' as const }),
    ),
    refArb,
  ).map(([f, ref]) => (ref === undefined ? f : { ...f, ref }));

  it('every frame the protocol defines is accepted exactly as sent; one unknown field makes it INVALID_FIELD', () => {
    fc.assert(
      fc.property(validFrame, fc.stringMatching(/^[a-z]{1,8}$/), leaf, (frame, key, junk) => {
        expect(check(JSON.stringify(frame))).toEqual({ ok: true, frame });
        const allowed = new Set(['type', 'ref', ...Object.keys(frame)]);
        if (allowed.has(key)) return;
        const r = check(JSON.stringify({ ...frame, [key]: junk }));
        expect(r).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
        if (frame.ref !== undefined) expect(r).toMatchObject({ ref: frame.ref });
      }),
      opts,
    );
  });
});
