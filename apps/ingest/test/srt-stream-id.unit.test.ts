/**
 * The SRT stream id parser (apps/ingest/src/srt/stream-id.ts): the plain key, the SRT Access
 * Control `#!::` form in either key order, percent-encoded ids, and the refusals.
 */
import { describe, expect, it } from 'vitest';
import { MAX_STREAM_ID_BYTES, parseSrtStreamId } from '../src/srt/stream-id.js';

const KEY = 'live_3kq9Zr-uX0aP_7mWc1bYtQe2NfHs5LvD';

describe('parseSrtStreamId', () => {
  it.each([
    [KEY, 'live'],
    [` ${KEY} `, 'live'],
    [`live/${KEY}`, 'live'],
    [`#!::r=live/${KEY},m=publish`, 'live'],
    [`#!::m=publish,r=live/${KEY}`, 'live'],
    [`#!::u=obs,r=live/${KEY},m=publish,s=abc,t=stream,h=example.com`, 'live'],
    [`#!::r=${KEY}`, 'live'],
    [`#!::r=other/${KEY},m=publish`, 'other'],
    [`%23%21%3A%3Ar%3Dlive%2F${KEY}%2Cm%3Dpublish`, 'live'],
  ])('takes %j', (id, app) => {
    expect(parseSrtStreamId(id)).toEqual({ ok: true, app, streamKey: KEY });
  });

  it('reads raw bytes', () => {
    expect(parseSrtStreamId(Buffer.from(`#!::r=live/${KEY},m=publish`))).toEqual({ ok: true, app: 'live', streamKey: KEY });
  });

  it.each([
    ['', /no stream id/],
    [`#!::r=live/${KEY},m=request`, /m=request/],
    [`#!::r=live/${KEY},m=bidirectional`, /m=bidirectional/],
    [`#!::m=publish`, /no r= resource/],
    [`#!::r=live/${KEY},r=live/other`, /"r" twice/],
    [`#!::r=live/${KEY},garbage`, /not key=value/],
    [`#!::r=live/`, /no stream key/],
    [`#!::r=live/a b`, /spaces or slashes/],
    [`live/a/b`, /spaces or slashes/],
    [`live_\u0000x`, /control characters/],
    ['x'.repeat(MAX_STREAM_ID_BYTES + 1), /longer than 512 bytes/],
    [`#!::r=live/${'k'.repeat(300)}`, /longer than 256/],
  ])('refuses %j', (id, reason) => {
    const r = parseSrtStreamId(id);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(parseSrtStreamId(Buffer.from([0x6c, 0xff, 0xfe]))).toMatchObject({ ok: false, reason: expect.stringMatching(/UTF-8/) });
  });
});
