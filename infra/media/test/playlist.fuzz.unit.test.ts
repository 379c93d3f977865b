/**
 * Property-based fuzzing (fast-check) of the parsers in @live/media that read external input:
 * HLS media playlists (ffmpeg's, RFC 8216bis), attribute lists, PROGRAM-DATE-TIME, low-latency
 * playlists and blocking-reload query strings (the edge), and the ISO BMFF box readers (ffmpeg's
 * fMP4 output). Properties: only the documented error type is thrown (or nothing, where the
 * function says it never throws), bounded inputs finish, and render→parse round trips hold.
 * Fixed seed; fast-check prints seed and counterexample on a failure.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  Fmp4Splitter, Mp4ParseError, PlaylistParseError, checkLowLatencyPlaylist, codecsFromInitSegment, decideBlockingReload,
  formatIv, normalizeProgramDateTime, parseAttributeList, parseBlockingReloadQuery, parseFragment, parseInitTracks,
  parseIv, parseLowLatencyPlaylist, parseMediaPlaylist, playlistHasPart, renderMediaPlaylist, topLevelBoxes,
  type PlaylistSegment,
} from '../src/index.js';

// 10,000 runs per property take a few seconds of CPU; on a loaded machine (the unit tier runs files in
// parallel) that can exceed Vitest's default 5 s per test.
vi.setConfig({ testTimeout: 120_000 });

const RUNS = 10_000;
const SEED = 0x15f0_0005;
const opts = { numRuns: RUNS, seed: SEED };

/** A cheap check for the hot paths (Vitest's `expect` costs more than the code under test here). */
function ok(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(`property violated: ${what}`);
}

/** The error `fn` threw, or null; rethrows one that is not an instance of `allowed`. */
function only<E extends Error>(allowed: new (...a: never[]) => E, fn: () => unknown): E | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof allowed) return err;
    throw err;
  }
}

// ------------------------------------------------------------------------------------------
// Playlist text

const TAGS = [
  '#EXTM3U', '#EXTINF', '#EXT-X-VERSION', '#EXT-X-TARGETDURATION', '#EXT-X-MEDIA-SEQUENCE', '#EXT-X-DISCONTINUITY-SEQUENCE',
  '#EXT-X-DISCONTINUITY', '#EXT-X-PROGRAM-DATE-TIME', '#EXT-X-MAP', '#EXT-X-KEY', '#EXT-X-ENDLIST', '#EXT-X-PLAYLIST-TYPE',
  '#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-PART-INF', '#EXT-X-PART', '#EXT-X-SERVER-CONTROL', '#EXT-X-PRELOAD-HINT',
  '#EXT-X-RENDITION-REPORT', '#EXT-X-SKIP', '#', '#EXT',
] as const;
const VALUES = [
  '', '0', '1', '-1', '2.5', '1e309', 'NaN', '0x10', ' 7 ', '9007199254740993', '4,', '2.000000,title', 'EVENT', 'VOD',
  'METHOD=NONE', 'METHOD=AES-128,URI="k.key"', 'METHOD=AES-128,URI="k.key",IV=0x000102030405060708090a0b0c0d0e0f', 'METHOD=AES-128,URI="k",IV=0x12',
  'METHOD=SAMPLE-AES,URI="k"', 'URI="init.mp4"', 'URI="a,b"', 'URI="unterminated', 'PART-TARGET=0.5', 'DURATION=0.5,URI="p.m4s",INDEPENDENT=YES',
  'TYPE=PART,URI="n.m4s"', 'URI="r.m3u8",LAST-MSN=4,LAST-PART=2', 'CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5', '2026-01-02T03:04:05.678Z',
  '2026-01-02T03:04:05.678+0000', 'not a date', '=,=,"",',
] as const;

const lineArb = fc.oneof(
  fc.tuple(fc.constantFrom(...TAGS), fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 20 }))).map(([t, v]) => `${t}:${v}`),
  fc.constantFrom(...TAGS),
  fc.constantFrom('seg0.ts', 'seg1.m4s', 'a b', ' ', '', '\uFEFF#EXTM3U'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
/** Plausible and implausible values per tag, so that tags meet each other and segments (e.g. a key without IV at an odd sequence). */
const TAG_VALUES: Record<string, readonly string[]> = {
  '#EXTINF': ['2.000000,', '0.5', '4,title', 'x', '1e309', ''],
  '#EXT-X-MEDIA-SEQUENCE': ['0', '7', ' 3 ', '-1', '2.5', '1e3', '9007199254740993', ''],
  '#EXT-X-DISCONTINUITY-SEQUENCE': ['0', '2', '-4', '0.1'],
  '#EXT-X-TARGETDURATION': ['2', '6', '0', 'NaN'],
  '#EXT-X-KEY': ['METHOD=NONE', 'METHOD=AES-128,URI="k.key"', 'METHOD=AES-128,URI="k",IV=0x000102030405060708090A0B0C0D0E0F', 'METHOD=AES-128,URI="k",IV=0x12', 'METHOD=AES-128', 'METHOD=SAMPLE-AES,URI="k"'],
  '#EXT-X-MAP': ['URI="init.mp4"', 'URI="a,b"', 'BYTERANGE=1@0'],
  '#EXT-X-PROGRAM-DATE-TIME': ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678+0000', 'yesterday'],
  '#EXT-X-PART': ['DURATION=0.5,URI="p.m4s",INDEPENDENT=YES', 'DURATION=x', 'URI="q.m4s"'],
  '#EXT-X-PART-INF': ['PART-TARGET=0.5', 'PART-TARGET=0', 'PART-TARGET=-1'],
  '#EXT-X-PRELOAD-HINT': ['TYPE=PART,URI="n.m4s"', 'TYPE=MAP'],
  '#EXT-X-SERVER-CONTROL': ['CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,HOLD-BACK=6', 'PART-HOLD-BACK=x'],
  '#EXT-X-RENDITION-REPORT': ['URI="r.m3u8",LAST-MSN=4,LAST-PART=2', 'URI="r.m3u8"'],
};
const taggedLineArb = fc.constantFrom(...Object.keys(TAG_VALUES)).chain((t) => fc.constantFrom(...TAG_VALUES[t]!).map((v) => `${t}:${v}`));
const segmentBlockArb = fc.tuple(
  fc.array(taggedLineArb, { maxLength: 4 }),
  fc.constantFrom('#EXTINF:2.000000,', '#EXTINF:0.5', '#EXT-X-DISCONTINUITY'),
  fc.constantFrom('seg0.m4s', 'seg1.m4s', 'https://cdn.example/s.ts'),
).map(([tags, extinf, uri]) => [...tags, extinf, uri]);
const playlistTextArb = fc.tuple(
  fc.constantFrom('#EXTM3U', '\uFEFF#EXTM3U', ' #EXTM3U ', '', '#EXTM3U8'),
  fc.array(fc.oneof(lineArb.map((l) => [l]), segmentBlockArb), { maxLength: 12 }),
  fc.constantFrom('\n', '\r\n', '\r'),
).map(([head, blocks, eol]) => [head, ...blocks.flat()].join(eol));

describe('parseMediaPlaylist (fuzz)', () => {
  it('returns a consistent playlist or throws PlaylistParseError, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(playlistTextArb, fc.string({ maxLength: 200 })), (text) => {
        let pl: ReturnType<typeof parseMediaPlaylist> | undefined;
        only(PlaylistParseError, () => (pl = parseMediaPlaylist(text)));
        if (!pl) return;
        // (a segment's sequence counts from the EXT-X-MEDIA-SEQUENCE read so far: 8216bis puts that tag before the
        // first segment, a playlist that repeats it later gets a jump in numbering, not an error)
        pl.segments.forEach((s) => {
          ok(Number.isSafeInteger(s.sequence) && s.sequence >= 0, `sequence ${s.sequence}`);
          ok(Number.isFinite(s.duration), 'finite duration');
          ok(s.uri === s.uri.trim() && s.uri !== '' && !s.uri.startsWith('#'), `uri ${JSON.stringify(s.uri)}`);
          if (s.key) ok(formatIv(parseIv(s.key.iv)) === s.key.iv, 'IV in canonical form');
          if (s.programDateTime !== undefined) ok(new Date(s.programDateTime).toISOString() === s.programDateTime, 'PROGRAM-DATE-TIME normalised');
        });
      }),
      opts,
    );
  });

  const uriArb = fc.stringMatching(/^[A-Za-z0-9_./-]{1,20}$/).filter((u) => !u.startsWith('#'));
  const segmentsArb = fc.tuple(
    fc.nat({ max: 1_000_000 }),
    fc.array(
      fc.record({
        uri: uriArb,
        duration: fc.integer({ min: 0, max: 20_000_000 }).map((us) => us / 1e6),
        discontinuity: fc.boolean(),
        map: fc.option(fc.constantFrom('init_1.mp4', 'init_2.mp4'), { nil: undefined }),
        programDateTime: fc.option(fc.integer({ min: 0, max: 4102444800000 }).map((ms) => new Date(ms).toISOString()), { nil: undefined }),
        key: fc.option(fc.record({ uri: fc.constantFrom('k1.key', 'https://keys.example/k?id=2'), iv: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIv(b)) }), { nil: undefined }),
      }),
      { maxLength: 12 },
    ),
  ).map(([first, segs]) => segs.map((s, i): PlaylistSegment => {
    const out: PlaylistSegment = { uri: s.uri, duration: s.duration, sequence: first + i, discontinuity: s.discontinuity };
    if (s.map !== undefined) out.map = s.map;
    if (s.programDateTime !== undefined) out.programDateTime = s.programDateTime;
    if (s.key !== undefined) out.key = s.key;
    return out;
  }));

  it('parse(render(segments)) gives the segments back (URI, duration, sequence, discontinuity, key, map)', () => {
    fc.assert(
      fc.property(segmentsArb, fc.boolean(), fc.constantFrom(undefined, 'EVENT', 'VOD'), (segs, endList, playlistType) => {
        const text = renderMediaPlaylist({ segments: segs, endList, targetDuration: segs.length === 0 ? 2 : undefined, playlistType, programDateTime: 'every-segment' });
        const pl = parseMediaPlaylist(text);
        ok(pl.endList === endList && pl.playlistType === playlistType, 'ENDLIST and PLAYLIST-TYPE');
        expect(pl.segments.map((s) => [s.uri, s.duration, s.sequence, s.discontinuity, s.key, s.programDateTime])).toEqual(
          segs.map((s) => [s.uri, Number(s.duration.toFixed(6)), s.sequence, s.discontinuity, s.key, s.programDateTime]),
        );
        // a segment's map is the EXT-X-MAP in effect; the renderer writes it when it changes
        let map: string | undefined;
        segs.forEach((s, i) => {
          if (s.map !== undefined) map = s.map;
          ok(pl.segments[i]!.map === map, 'EXT-X-MAP in effect');
        });
      }),
      opts,
    );
  });
});

describe('parseAttributeList / normalizeProgramDateTime (fuzz)', () => {
  const nameArb = fc.stringMatching(/^[A-Z0-9-]{1,12}$/);
  const valueArb = fc.oneof(
    fc.stringMatching(/^[^",\r\n]{0,16}$/).map((v) => ({ raw: `"${v}"`, value: v })), // quoted-string
    fc.stringMatching(/^[A-Za-z0-9.x-]{1,16}$/).map((v) => ({ raw: v, value: v })), // enumerated / decimal / hex
  );

  it('never throws, and reads back any well-formed attribute list', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(nameArb, valueArb), { maxLength: 8, selector: ([n]) => n }), fc.string({ maxLength: 60 }), (attrs, junk) => {
        const text = attrs.map(([n, v]) => `${n}=${v.raw}`).join(',');
        expect(parseAttributeList(text)).toEqual(Object.fromEntries(attrs.map(([n, v]) => [n, v.value])));
        // an unterminated quoted-string is left out (it used to lose its last character: URI="init.mp4 → init.mp)
        const open = `${text}${text ? ',' : ''}X-UNTERMINATED-QUOTE="${junk.replace(/["\r\n,]/g, '')}`; // (generated names have at most 12 characters)
        const read = parseAttributeList(open);
        ok(read['X-UNTERMINATED-QUOTE'] === undefined, `unterminated ${JSON.stringify(open)}`);
        ok(attrs.every(([n, v]) => read[n] === v.value), 'the attributes before it');
        const j = parseAttributeList(junk);
        for (const [k, v] of Object.entries(j)) {
          ok(/^[A-Z0-9-]+$/.test(k) && typeof v === 'string', `attribute ${k}`);
        }
      }),
      opts,
    );
  });

  it('normalizeProgramDateTime: undefined or an ISO instant, and idempotent', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.tuple(fc.date({ min: new Date(0), max: new Date(4102444800000), noInvalidDate: true }), fc.constantFrom('+0000', '+0530', '-0800', 'Z', '+05:30')).map(([d, z]) => d.toISOString().replace('Z', z)),
        ),
        (s) => {
          const n = normalizeProgramDateTime(s);
          if (n === undefined) return;
          ok(new Date(n).toISOString() === n && normalizeProgramDateTime(n) === n, `normalised ${n}`);
        },
      ),
      opts,
    );
  });
});

// ------------------------------------------------------------------------------------------
// Low-latency playlists and blocking reload (8216bis §6.2.5.2)

describe('low-latency playlist readers (fuzz)', () => {
  it('parseLowLatencyPlaylist, checkLowLatencyPlaylist, playlistHasPart and decideBlockingReload never throw', () => {
    fc.assert(
      fc.property(fc.oneof(playlistTextArb, fc.string({ maxLength: 120 })), fc.nat({ max: 40 }), fc.option(fc.nat({ max: 10 }), { nil: undefined }), (text, msn, part) => {
        const pl = parseLowLatencyPlaylist(text);
        for (const s of pl.segments) {
          s.parts.forEach((p, k) => {
            ok(p.index === k && Object.is(p.msn, s.msn), 'part numbering');
          });
        }
        const violations = checkLowLatencyPlaylist(text, { partUri: (m, k) => `p${m}.${k}.m4s`, renditionReports: 1 });
        for (const v of violations) ok(v.severity === 'error' || v.severity === 'warning', 'severity');
        ok(typeof playlistHasPart(text, msn, part) === 'boolean', 'playlistHasPart');
        const d = decideBlockingReload(part === undefined ? { msn } : { msn, part }, text);
        ok(['serve', 'wait', 'reject'].includes(d.action), 'decision');
      }),
      opts,
    );
  });

  const directive = fc.oneof(
    fc.constantFrom('0', '1', '00', '01', '-1', '1.5', '', ' 1', '1e3', '9999999999999999', '99999999999999999', 'YES', 'v2', 'yes', 'NO'),
    fc.nat().map(String),
    fc.string({ maxLength: 8 }),
  );
  const nameArb = fc.constantFrom('_HLS_msn', '_HLS_part', '_HLS_skip', '_HLS_other', 'x');

  it('parseBlockingReloadQuery: any query string or record → a request of safe integers, or a 400 with a reason', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(nameArb, directive), { maxLength: 5 }),
        fc.string({ maxLength: 40 }),
        fc.dictionary(nameArb, fc.oneof(directive, fc.array(directive, { maxLength: 3 }), fc.integer(), fc.constant(undefined), fc.boolean()), { maxKeys: 4 }),
        (pairs, raw, record) => {
          for (const q of [new URLSearchParams(pairs), new URLSearchParams(raw), record]) {
            const r = parseBlockingReloadQuery(q);
            if (!r.ok) {
              ok(r.status === 400 && r.reason.length > 0, '400 with a reason');
              continue;
            }
            const { msn, part, skip } = r.request;
            if (msn !== undefined) ok(Number.isSafeInteger(msn) && msn >= 0, `msn ${msn}`);
            if (part !== undefined) {
              ok(Number.isSafeInteger(part) && part >= 0 && msn !== undefined, `part ${part}`);
            }
            if (skip !== undefined) ok(skip === 'YES' || skip === 'v2', `skip ${skip}`);
          }
        },
      ),
      opts,
    );
  });

  it('parseBlockingReloadQuery reads back any valid request', () => {
    fc.assert(
      fc.property(fc.option(fc.nat({ max: 2 ** 40 }), { nil: undefined }), fc.option(fc.nat({ max: 1000 }), { nil: undefined }), fc.option(fc.constantFrom<'YES' | 'v2'>('YES', 'v2'), { nil: undefined }), (msn, part, skip) => {
        const q = new URLSearchParams();
        if (msn !== undefined) q.set('_HLS_msn', String(msn));
        if (part !== undefined && msn !== undefined) q.set('_HLS_part', String(part));
        if (skip !== undefined) q.set('_HLS_skip', skip);
        const want = { ...(msn !== undefined ? { msn } : {}), ...(part !== undefined && msn !== undefined ? { part } : {}), ...(skip ? { skip } : {}) };
        expect(parseBlockingReloadQuery(q)).toEqual({ ok: true, request: want });
        expect(parseBlockingReloadQuery(Object.fromEntries(q))).toEqual({ ok: true, request: want });
      }),
      opts,
    );
  });
});

// ------------------------------------------------------------------------------------------
// ISO BMFF boxes (ffmpeg's fMP4 output)

type BoxTree = { type: string; children: readonly BoxTree[]; payload: Uint8Array; size: 'exact' | 'large' | 'zero' | number };

const CONTAINERS = ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd', 'mvex', 'moof', 'traf'];
const LEAVES = ['ftyp', 'mvhd', 'tkhd', 'mdhd', 'hdlr', 'trex', 'tfhd', 'tfdt', 'trun', 'mfhd', 'mdat', 'avc1', 'avcC', 'mp4a', 'esds', 'free', 'styp', 'mfra'];

/** Leaf payloads that look like the fields the readers pick out: version/flags, counts, ids. */
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.array(fc.oneof(fc.constant(0), fc.constant(1), fc.constant(2), fc.nat(), fc.constant(0xffffffff), fc.constant(0x000f05)), { maxLength: 8 }).map((v) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
    return b;
  }),
);

const { tree: treeArb } = fc.letrec<{ tree: BoxTree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.record({ type: fc.constantFrom(...LEAVES), children: fc.constant([]), payload: payloadArb, size: fc.constantFrom<BoxTree['size']>('exact', 'exact', 'exact', 'large', 'zero', 0, 1, 7, 9) }),
    fc.record({ type: fc.constantFrom(...CONTAINERS), children: fc.array(tie('tree'), { maxLength: 3 }), payload: fc.constant(new Uint8Array(0)), size: fc.constantFrom<BoxTree['size']>('exact', 'exact', 'exact', 'exact', 'large', 3, 1000) }),
  ),
}));

function serialize(t: BoxTree): Buffer {
  const body = Buffer.concat([t.payload, ...t.children.map(serialize)]);
  const h = Buffer.alloc(t.size === 'large' ? 16 : 8);
  h.write(t.type, 4, 'latin1');
  if (t.size === 'large') {
    h.writeUInt32BE(1, 0);
    h.writeBigUInt64BE(BigInt(16 + body.length), 8);
  } else if (t.size === 'zero') h.writeUInt32BE(0, 0);
  else h.writeUInt32BE(t.size === 'exact' ? 8 + body.length : t.size, 0);
  return Buffer.concat([h, body]);
}

/** The shape ffmpeg writes (init: ftyp + moov; fragment: moof + mdat), each box present or not, fields of any length. */
type Template = { type: string; prefix?: number; kids?: Template[] };
const INIT: Template[] = [
  { type: 'ftyp' },
  { type: 'moov', kids: [
    { type: 'mvhd' },
    { type: 'trak', kids: [
      { type: 'tkhd' },
      { type: 'mdia', kids: [
        { type: 'mdhd' }, { type: 'hdlr' },
        { type: 'minf', kids: [{ type: 'stbl', kids: [{ type: 'stsd', prefix: 8, kids: [
          { type: 'avc1', prefix: 78, kids: [{ type: 'avcC' }] },
          { type: 'mp4a', prefix: 28, kids: [{ type: 'esds' }] },
        ] }] }] },
      ] },
    ] },
    { type: 'mvex', kids: [{ type: 'trex' }, { type: 'trex' }] },
  ] },
];
const FRAGMENT: Template[] = [
  { type: 'styp' },
  { type: 'moof', kids: [{ type: 'mfhd' }, { type: 'traf', kids: [{ type: 'tfhd' }, { type: 'tfdt' }, { type: 'trun' }] }, { type: 'traf', kids: [{ type: 'tfhd' }, { type: 'trun' }] }] },
  { type: 'mdat' },
];
/** Field values the readers act on: versions, trun/tfhd flags, track ids 1 and 2, sync/non-sync flags, huge counts. */
const fieldArb = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 0x01000000, 0x000f05, 0x000305, 0x000201, 0x00003b, 0x020000, 0x02000000, 0x01010000, 0xffffffff, 0x7fffffff),
  fc.nat({ max: 4096 }),
  fc.nat(),
);
const fieldsArb = fc.oneof(
  fc.array(fieldArb, { maxLength: 10 }).map((v) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
    return b;
  }),
  fc.uint8Array({ maxLength: 24 }),
  // an esds: ES_Descriptor (0x03) / DecoderConfigDescriptor (0x04) / DecoderSpecificInfo (0x05), maybe cut short
  fc.tuple(fc.nat({ max: 40 }), fc.constantFrom(0x80, 0x40, 0x20, 0)).map(([cut, flags]) =>
    Buffer.from([0, 0, 0, 0, 3, 25, 0, 1, flags, 4, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0x12, 0x10]).subarray(0, cut)),
);
function fromTemplate(t: Template): fc.Arbitrary<BoxTree> {
  const size = fc.constantFrom<BoxTree['size']>('exact', 'exact', 'exact', 'exact', 'exact', 'exact', 'large', 'zero', 4, 1000);
  if (!t.kids) return fc.record({ type: fc.constant(t.type), children: fc.constant([]), payload: fieldsArb, size });
  const prefix = t.prefix ? fc.oneof(fc.constant(new Uint8Array(t.prefix)), fc.uint8Array({ maxLength: t.prefix })) : fc.constant(new Uint8Array(0));
  return fc.record({
    type: fc.constant(t.type),
    children: fc.tuple(...t.kids.map((k) => fc.option(fromTemplate(k), { freq: 6 }))).map((kids) => kids.filter((k): k is BoxTree => k !== null)),
    payload: prefix,
    size,
  });
}
const shapedArb = fc.oneof(
  fc.tuple(...INIT.map(fromTemplate)),
  fc.tuple(...FRAGMENT.map(fromTemplate)),
  fc.tuple(...INIT.map(fromTemplate), ...FRAGMENT.map(fromTemplate)),
);

const mp4Arb = fc.tuple(fc.oneof(fc.array(treeArb, { maxLength: 4 }), shapedArb), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }), fc.nat(), fc.nat({ max: 3 }))
  .map(([trees, flips, cut, offset]) => {
    const buf = Buffer.concat(trees.map(serialize));
    for (const [at, b] of flips) if (buf.length > 0) buf[at % buf.length] = b;
    const bytes = cut % 4 === 0 ? buf.subarray(0, cut % (buf.length + 1)) : buf;
    // sometimes a view that does not start at offset 0 of its ArrayBuffer
    const padded = Buffer.concat([Buffer.alloc(offset), bytes, Buffer.alloc(offset)]);
    return new Uint8Array(padded.buffer, padded.byteOffset + offset, bytes.length);
  });

describe('ISO BMFF readers (fuzz)', () => {
  const tracks = [
    { id: 1, timescale: 15360, handler: 'vide', defaultSampleDuration: 0, defaultSampleSize: 0, defaultSampleFlags: 0 },
    { id: 2, timescale: 48000, handler: 'soun', defaultSampleDuration: 1024, defaultSampleSize: 0, defaultSampleFlags: 0 },
  ];

  it('parseInitTracks, parseFragment, codecsFromInitSegment and topLevelBoxes: a result or Mp4ParseError', async () => {
    await fc.assert(
      fc.asyncProperty(mp4Arb, async (bytes) => {
        only(Mp4ParseError, () => parseInitTracks(bytes));
        only(Mp4ParseError, () => parseFragment(bytes, tracks));
        only(Mp4ParseError, () => codecsFromInitSegment(bytes));
        let boxes: Awaited<ReturnType<typeof topLevelBoxes>> | undefined;
        try {
          boxes = await topLevelBoxes(bytes);
        } catch (err) {
          if (!(err instanceof Mp4ParseError)) throw err;
        }
        if (boxes) {
          let at = 0;
          for (const b of boxes) {
            ok(b.offset === at && b.size >= 8, 'contiguous boxes');
            at += b.size;
          }
          ok(at === bytes.byteLength, 'boxes cover the bytes');
        }
      }),
      opts,
    );
  });

  it('Fmp4Splitter: any split of a byte stream yields the same units (or the same Mp4ParseError)', () => {
    fc.assert(
      fc.property(mp4Arb, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const run = (pieces: Uint8Array[]) => {
          const s = new Fmp4Splitter();
          const units: string[] = [];
          const err = only(Mp4ParseError, () => {
            for (const p of pieces) for (const u of s.push(p)) units.push(`${u.kind}:${u.bytes.toString('hex')}`);
          });
          return { units, failed: err !== null, buffered: err ? -1 : s.buffered };
        };
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const pieces: Uint8Array[] = [];
        let prev = 0;
        for (const c of [...at, bytes.length]) {
          pieces.push(bytes.subarray(prev, c));
          prev = c;
        }
        const whole = run([bytes]);
        const split = run(pieces);
        ok(split.failed === whole.failed, 'same failure');
        if (!whole.failed) {
          expect(split.units).toEqual(whole.units);
          ok(split.buffered === whole.buffered, 'same buffered');
          const out = whole.units.reduce((n, u) => n + (u.length - u.indexOf(':') - 1) / 2, 0);
          ok(out + whole.buffered <= bytes.length, 'no bytes invented');
        }
      }),
      opts,
    );
  });
});

describe('inputs the properties above found (regressions)', () => {
  const box = (type: string, ...payload: Uint8Array[]): Buffer => {
    const body = Buffer.concat(payload);
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + body.length, 0);
    h.write(type, 4, 'latin1');
    return Buffer.concat([h, body]);
  };
  const u32 = (...v: number[]) => Buffer.concat(v.map((x) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(x >>> 0, 0);
    return b;
  }));

  it('a negative or inexact EXT-X-MEDIA-SEQUENCE is a PlaylistParseError (it was a SegmentEncryptionError with a key without IV)', () => {
    for (const seq of ['-1', '0.5', '9007199254740993']) {
      expect(() => parseMediaPlaylist(`#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:${seq}\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:1,\na.ts\n`)).toThrow(PlaylistParseError);
    }
  });

  it('an unterminated quoted-string attribute is left out, not cut short', () => {
    expect(parseAttributeList('URI="init.mp4')).toEqual({});
    expect(parseAttributeList('A="x"y,B=2,C="z"')).toEqual({ B: '2', C: 'z' });
    expect(parseMediaPlaylist('#EXTM3U\n#EXT-X-MAP:URI="init.mp4\n#EXTINF:1,\na.m4s\n').segments[0]!.map).toBeUndefined();
  });

  it('_HLS_msn / _HLS_part beyond 2^53 - 1 are refused (16 digits do not always fit a double)', () => {
    expect(parseBlockingReloadQuery(new URLSearchParams('_HLS_msn=9999999999999999'))).toMatchObject({ ok: false, status: 400 });
    expect(parseBlockingReloadQuery(new URLSearchParams('_HLS_msn=9007199254740991'))).toEqual({ ok: true, request: { msn: 9007199254740991 } });
  });

  it('boxes too short for their fields are Mp4ParseError (they were RangeError / TypeError)', () => {
    expect(() => parseInitTracks(Buffer.concat([box('ftyp'), box('moov', box('mvex', box('trex')))]))).toThrow(Mp4ParseError);
    expect(() => parseInitTracks(box('moov', box('trak', box('tkhd'), box('mdia', box('mdhd')))))).toThrow(Mp4ParseError);
    expect(() => parseFragment(box('moof', box('traf', box('tfhd'))), [])).toThrow(Mp4ParseError);
    const stsd = (entry: Buffer) => box('moov', box('trak', box('mdia', box('minf', box('stbl', box('stsd', Buffer.alloc(8), entry))))));
    expect(() => codecsFromInitSegment(stsd(box('avc1', Buffer.alloc(78), box('avcC'))))).toThrow(Mp4ParseError);
    expect(codecsFromInitSegment(stsd(box('mp4a', Buffer.alloc(28), box('esds', Buffer.from([0, 0, 0, 0, 3, 5, 0, 0, 0, 4])))))).toEqual(['mp4a.40.2']);
  });

  it('a trun announcing 2^32 - 1 samples is read at once without per-sample fields, refused with them (it looped for ~20 s)', () => {
    const tracks = [{ id: 1, timescale: 1000, handler: 'vide', defaultSampleDuration: 1, defaultSampleSize: 0, defaultSampleFlags: 0 }];
    const frag = (trFlags: number) => box('moof', box('traf', box('tfhd', u32(0, 1)), box('trun', u32(trFlags, 0xffffffff))));
    const t0 = performance.now();
    expect(parseFragment(frag(0), tracks).runs).toEqual([{ trackId: 1, baseDecodeTime: 0, duration: 0xffffffff, samples: 0xffffffff, firstSampleSync: true }]);
    expect(() => parseFragment(frag(0x100), tracks)).toThrow(Mp4ParseError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
