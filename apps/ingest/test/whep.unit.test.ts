/** The pure parts of WHEP playback: H.264 RTP packetization, the viewer's offer, the codec choice, paths and errors, the settings. */
import { describe, expect, it } from 'vitest';
import { RTCRtpCodecParameters } from 'werift';
import { loadConfig } from '@live/runtime';
import { accessUnitNalUnits, avccNalUnits, avcCompositionTime, H264FormatError, nalType, packetizeH264, profileLevelId } from '../src/whep/h264-rtp.js';
import { checkWhepOffer } from '../src/whip/offer.js';
import { parseWhipPath, whipError } from '../src/whip/request.js';
import { preferH264 } from '../src/whep/viewer.js';
import { opusRtpArgs } from '../src/whep/source.js';
import { deriveIngestConfig, ingestConfigSchema } from '../src/config.js';

const nal = (type: number, size: number, nri = 3) => {
  const b = Buffer.alloc(size, 0xab);
  b[0] = (nri << 5) | type;
  return b;
};
const avcc = (units: Buffer[], lengthSize = 4) => Buffer.concat(units.flatMap((u) => {
  const len = Buffer.alloc(lengthSize);
  len.writeUIntBE(u.length, 0, lengthSize);
  return [len, u];
}));

describe('avccNalUnits', () => {
  it('splits length-prefixed NAL units of 1 to 4 length bytes, skipping empty ones', () => {
    const units = [nal(9, 2), nal(5, 300), nal(1, 10)];
    for (const size of [1, 2, 4]) {
      const small = size === 1 ? [nal(9, 2), nal(1, 10)] : units;
      expect(avccNalUnits(avcc(small, size), size)).toEqual(small);
    }
    expect(avccNalUnits(Buffer.concat([Buffer.from([0, 0, 0, 0]), avcc([nal(1, 3)])]), 4)).toEqual([nal(1, 3)]);
  });

  it('throws H264FormatError on a length past the end or a bad length size', () => {
    expect(() => avccNalUnits(Buffer.from([0, 0, 0, 9, 0x65, 1]), 4)).toThrow(H264FormatError);
    expect(() => avccNalUnits(Buffer.from([0, 0]), 4)).toThrow(/truncated/);
    expect(() => avccNalUnits(Buffer.alloc(4), 3.5)).toThrow(H264FormatError);
    expect(() => avccNalUnits(Buffer.alloc(4), 5)).toThrow(H264FormatError);
  });
});

describe('accessUnitNalUnits', () => {
  const sps = [nal(7, 10)];
  const pps = [nal(8, 4)];
  it('drops access unit delimiters and puts SPS/PPS before an IDR that lacks them', () => {
    const out = accessUnitNalUnits([nal(9, 2), nal(6, 5), nal(5, 50)], sps, pps);
    expect(out.map(nalType)).toEqual([7, 8, 6, 5]);
  });
  it('leaves non-IDR access units and IDRs with in-band SPS as they are (AUD aside)', () => {
    expect(accessUnitNalUnits([nal(1, 50)], sps, pps).map(nalType)).toEqual([1]);
    expect(accessUnitNalUnits([nal(7, 10), nal(8, 4), nal(5, 50)], sps, pps).map(nalType)).toEqual([7, 8, 5]);
  });
});

describe('packetizeH264 (RFC 6184)', () => {
  it('sends a unit that fits as a Single NAL Unit packet', () => {
    const u = nal(1, 1200);
    expect(packetizeH264([u], 1200)).toEqual([u]);
  });

  it('fragments a larger unit into FU-A packets whose reassembly is the unit', () => {
    const u = nal(5, 3000, 3);
    for (let i = 1; i < u.length; i++) u[i] = i & 0xff;
    const packets = packetizeH264([u], 1200);
    expect(packets.length).toBe(Math.ceil((u.length - 1) / 1198));
    for (const [i, p] of packets.entries()) {
      expect(p.length).toBeLessThanOrEqual(1200);
      expect(p[0]).toBe((3 << 5) | 28); // FU indicator: NRI of the unit, type 28
      expect(p[1]! & 0x1f).toBe(5);
      expect(Boolean(p[1]! & 0x80)).toBe(i === 0); // S
      expect(Boolean(p[1]! & 0x40)).toBe(i === packets.length - 1); // E
    }
    const rebuilt = Buffer.concat([Buffer.from([(u[0]! & 0xe0) | (packets[0]![1]! & 0x1f)]), ...packets.map((p) => p.subarray(2))]);
    expect(rebuilt.equals(u)).toBe(true);
  });

  it('keeps the order of units and skips empty ones', () => {
    const out = packetizeH264([nal(7, 10), Buffer.alloc(0), nal(8, 4), nal(5, 2500)], 1200);
    expect(out.slice(0, 2).map(nalType)).toEqual([7, 8]);
    expect(out.slice(2).every((p) => nalType(p) === 28)).toBe(true);
  });

  it('refuses a payload bound below 3 bytes', () => {
    expect(() => packetizeH264([nal(1, 10)], 2)).toThrow(RangeError);
  });
});

describe('FLV AVC helpers', () => {
  it('reads the signed composition time and the profile-level-id', () => {
    expect(avcCompositionTime(Buffer.from([0x27, 1, 0, 0, 0x42]))).toBe(66);
    expect(avcCompositionTime(Buffer.from([0x27, 1, 0xff, 0xff, 0xfe]))).toBe(-2);
    expect(avcCompositionTime(Buffer.from([0x27]))).toBe(0);
    expect(profileLevelId(Buffer.from([0x67, 0x64, 0x00, 0x1f, 0xac]))).toBe('64001f');
    expect(profileLevelId(Buffer.from([0x67, 0x64]))).toBeNull();
    expect(profileLevelId(undefined)).toBeNull();
  });
});

const session = ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=fingerprint:sha-256 AB:CD'];
const video = (dir = 'recvonly', fmtp = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f') => [
  'm=video 9 UDP/TLS/RTP/SAVPF 96 102', 'a=ice-ufrag:u1', 'a=ice-pwd:p1', `a=${dir}`, 'a=rtpmap:96 VP8/90000', 'a=rtpmap:102 H264/90000', `a=fmtp:102 ${fmtp}`,
];
const opus = ['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=ice-ufrag:u1', 'a=ice-pwd:p1', 'a=recvonly', 'a=rtpmap:111 opus/48000/2'];
const sdp = (...sections: string[][]) => [...session, ...sections.flat()].join('\r\n') + '\r\n';

describe('checkWhepOffer', () => {
  it('accepts a receiving H.264 packetization-mode 1 section, with or without Opus', () => {
    expect(checkWhepOffer(sdp(video(), opus))).toEqual({ ok: true, video: true, audio: true });
    expect(checkWhepOffer(sdp(video('sendrecv')))).toEqual({ ok: true, video: true, audio: false });
  });
  it('refuses a publisher\'s offer or one without H.264 mode 1 with SDP_UNSUPPORTED_CODEC, and junk with SDP_MALFORMED', () => {
    expect(checkWhepOffer(sdp(video('sendonly'), opus))).toMatchObject({ ok: false, code: 'SDP_UNSUPPORTED_CODEC' });
    expect(checkWhepOffer(sdp(video('recvonly', 'packetization-mode=0')))).toMatchObject({ ok: false, code: 'SDP_UNSUPPORTED_CODEC' });
    expect(checkWhepOffer('v=0\r\nm=video\r\n')).toMatchObject({ ok: false, code: 'SDP_MALFORMED' });
    expect(checkWhepOffer('')).toMatchObject({ ok: false, code: 'SDP_MALFORMED' });
  });
});

describe('preferH264', () => {
  const codec = (payloadType: number, mimeType: string, parameters?: string) => new RTCRtpCodecParameters({ payloadType, mimeType, clockRate: 90000, ...(parameters ? { parameters } : {}) });
  const offered = [
    codec(96, 'video/VP8'), codec(97, 'video/rtx', 'apt=96'),
    codec(102, 'video/H264', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f'), codec(103, 'video/rtx', 'apt=102'),
    codec(104, 'video/H264', 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f'),
    codec(112, 'video/H264', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f'), codec(113, 'video/rtx', 'apt=112'),
  ];
  it('keeps H.264 mode 1 (and its RTX), the stream\'s profile first', () => {
    expect(preferH264(offered, '640028').map((c) => c.payloadType)).toEqual([112, 102, 103, 113]);
    expect(preferH264(offered, '42c01e').map((c) => c.payloadType)).toEqual([102, 112, 103, 113]);
    expect(preferH264(offered, null).map((c) => c.payloadType)).toEqual([102, 112, 103, 113]);
  });
  it('returns nothing when no H.264 mode 1 is offered', () => {
    expect(preferH264([codec(96, 'video/VP8'), offered[4]!], '42e01f')).toEqual([]);
  });
});

describe('WHEP paths, errors and settings', () => {
  it('parses /whep/<channel> and its resources, not the other protocol\'s', () => {
    expect(parseWhipPath('/whep/demo', 'whep')).toEqual({ kind: 'endpoint', channel: 'demo' });
    expect(parseWhipPath('/whep/demo/01a24f92-a08c-7de5-881e-029f4b2b66c3', 'whep')).toEqual({ kind: 'resource', channel: 'demo', resourceId: '01a24f92-a08c-7de5-881e-029f4b2b66c3' });
    expect(parseWhipPath('/whip/demo', 'whep')).toBeUndefined();
    expect(parseWhipPath('/whep/demo')).toBeUndefined();
  });
  it('answers playback-token codes with their catalogue status', () => {
    expect(whipError('PLAYBACK_TOKEN_MISSING', 'x').status).toBe(401);
    expect(whipError('PLAYBACK_TOKEN_WRONG_ADDRESS', 'x').status).toBe(403);
    expect(whipError('SOURCE_NOT_WEBRTC_COMPATIBLE', 'x').status).toBe(422);
    expect(whipError('CHANNEL_OFFLINE', 'x').status).toBe(404);
  });
  it('sends Opus RTP to loopback with low-delay settings', () => {
    const args = opusRtpArgs(5000, 5001, 96000);
    expect(args.at(-1)).toBe('rtp://127.0.0.1:5000?rtcpport=5001&pkt_size=1200');
    expect(args.join(' ')).toContain('-c:a libopus -b:a 96000 -ar 48000 -ac 2 -application lowdelay -frame_duration 20');
  });
  it('loads WHEP settings: on by default with the JWT_KEYS ring, off with WHEP_ENABLED=false', () => {
    const base = { INTERNAL_TOKEN: 'a-test-token-of-32-characters-xx', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', NATS_URL: 'nats://127.0.0.1:4222' };
    const derive = (env: Record<string, string>) => deriveIngestConfig(loadConfig(ingestConfigSchema, { env: { ...base, ...env } }));
    const on = derive({ JWT_KEYS: `k1:${'s'.repeat(32)}`, WHEP_MAX_VIEWERS: '7' });
    expect(on.whep?.playbackKeys?.map((k) => k.kid)).toEqual(['k1']);
    expect(on.whep?.limits).toEqual({ maxViewers: 7, maxViewersPerAddress: 10 });
    expect(derive({ WHEP_ENABLED: 'false' }).whep).toBeUndefined();
    expect(derive({}).whep).toEqual({ limits: { maxViewers: 200, maxViewersPerAddress: 10 } });
  });
});
