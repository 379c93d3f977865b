/** The pure parts of WHIP ingest: offer checks, request parsing, the SDP ffmpeg reads, the settings. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@live/runtime';
import { checkWhipOffer } from '../src/whip/offer.js';
import { bearerToken, isSdpContentType, parseWhipPath, whipError } from '../src/whip/request.js';
import { FORWARD_H264_PT, FORWARD_OPUS_PT, ffmpegRtpSdp } from '../src/whip/ffmpeg-sdp.js';
import { deriveIngestConfig, ingestConfigSchema } from '../src/config.js';

const session = ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=fingerprint:sha-256 AB:CD'];
const video = (fmtp = 'profile-level-id=640c1f;packetization-mode=1', dir = 'sendonly') => [
  'm=video 9 UDP/TLS/RTP/SAVPF 102 96', 'a=ice-ufrag:u1', 'a=ice-pwd:p1', `a=${dir}`,
  'a=rtpmap:96 VP8/90000', 'a=rtpmap:102 H264/90000', `a=fmtp:102 ${fmtp}`,
];
const opus = ['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=ice-ufrag:u1', 'a=ice-pwd:p1', 'a=sendonly', 'a=rtpmap:111 opus/48000/2'];
const sdp = (...sections: string[][]) => [...session, ...sections.flat()].join('\r\n') + '\r\n';

describe('checkWhipOffer', () => {
  it('accepts H.264 packetization-mode 1 of any profile, with or without Opus', () => {
    expect(checkWhipOffer(sdp(video(), opus))).toEqual({ ok: true, video: true, audio: true });
    expect(checkWhipOffer(sdp(video('packetization-mode=1;profile-level-id=42e01f')))).toEqual({ ok: true, video: true, audio: false });
    expect(checkWhipOffer(sdp(video()).replace(/\r\n/g, '\n'))).toMatchObject({ ok: true });
  });

  it('refuses an offer without H.264 packetization-mode 1 or that does not send video with SDP_UNSUPPORTED_CODEC', () => {
    expect(checkWhipOffer(sdp(video('profile-level-id=42e01f;packetization-mode=0'), opus))).toMatchObject({ ok: false, code: 'SDP_UNSUPPORTED_CODEC' });
    expect(checkWhipOffer(sdp(video(undefined, 'recvonly'), opus))).toMatchObject({ ok: false, code: 'SDP_UNSUPPORTED_CODEC' });
    expect(checkWhipOffer(sdp(opus))).toMatchObject({ ok: false, code: 'SDP_UNSUPPORTED_CODEC' });
  });

  it('refuses what is not a WebRTC offer with SDP_MALFORMED', () => {
    for (const bad of ['', 'hello', 'v=1\r\n', 'v=0\r\nnot a line\r\n', sdp(), sdp(['m=video nine UDP 96']),
      sdp(video()).replace('a=fingerprint:sha-256 AB:CD\r\n', ''), sdp(video()).replace(/a=ice-pwd:p1\r\n/, '')]) {
      expect(checkWhipOffer(bad), JSON.stringify(bad)).toMatchObject({ ok: false, code: 'SDP_MALFORMED' });
    }
  });
});

describe('WHIP requests', () => {
  it('parses the endpoint and resource paths, nothing else', () => {
    expect(parseWhipPath('/whip/demo')).toEqual({ kind: 'endpoint', channel: 'demo' });
    expect(parseWhipPath('/whip/demo/')).toEqual({ kind: 'endpoint', channel: 'demo' });
    const id = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    expect(parseWhipPath(`/whip/demo/${id}`)).toEqual({ kind: 'resource', channel: 'demo', resourceId: id });
    for (const p of ['/', '/whip', '/whip/', '/whip/a b', '/whip/demo/x', '/whip/../etc', `/whep/demo/${id}`]) expect(parseWhipPath(p), p).toBeUndefined();
  });

  it('reads the Bearer token and the SDP content type', () => {
    expect(bearerToken('Bearer live_abc')).toBe('live_abc');
    expect(bearerToken('bearer  live_abc ')).toBe('live_abc');
    for (const h of [undefined, '', 'Basic abc', 'Bearer', 'Bearer a b']) expect(bearerToken(h), String(h)).toBeUndefined();
    expect(isSdpContentType('application/sdp')).toBe(true);
    expect(isSdpContentType('Application/SDP; charset=utf-8')).toBe(true);
    expect(isSdpContentType('text/plain')).toBe(false);
    expect(isSdpContentType(undefined)).toBe(false);
  });

  it('answers refusals with their status and a { code, message } body', () => {
    expect(whipError('SDP_MALFORMED', 'm')).toEqual({ status: 400, body: '{"code":"SDP_MALFORMED","message":"m"}' });
    expect(whipError('UNKNOWN_STREAM_KEY', 'm').status).toBe(401);
    expect(whipError('ALREADY_LIVE', 'm').status).toBe(409);
    expect(whipError('SOMETHING_NEW', 'm').status).toBe(403);
  });
});

describe('ffmpegRtpSdp', () => {
  it('describes the forwarded H.264 and Opus on loopback', () => {
    expect(ffmpegRtpSdp({ video: 5000, audio: 5002 }).split('\r\n')).toEqual([
      'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=whip', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=video 5000 RTP/AVP ${FORWARD_H264_PT}`, `a=rtpmap:${FORWARD_H264_PT} H264/90000`, `a=fmtp:${FORWARD_H264_PT} packetization-mode=1`,
      `m=audio 5002 RTP/AVP ${FORWARD_OPUS_PT}`, `a=rtpmap:${FORWARD_OPUS_PT} opus/48000/2`, '',
    ]);
    expect(ffmpegRtpSdp({ video: 5000 })).not.toMatch(/m=audio/);
  });
});

describe('ingest config: WHIP', () => {
  const BASE = { INTERNAL_TOKEN: 'a-test-token-of-32-characters-xx', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', NATS_URL: 'nats://127.0.0.1:4222' };
  const derive = (env: Record<string, string>) => deriveIngestConfig(loadConfig(ingestConfigSchema, { env: { ...BASE, ...env } }));

  it('defaults and reads the WHIP settings', () => {
    expect(derive({}).whip).toEqual({
      port: 8089, host: '127.0.0.1', ice: {},
      limits: { maxSessions: 100, maxSessionsPerAddress: 5, maxOfferBytes: 65536, mediaTimeoutMs: 15000, idleTimeoutMs: 10000, pliIntervalMs: 2000 },
    });
    expect(derive({ WHIP_PORT: '0', WHIP_ICE_ADDRESSES: '127.0.0.1', WHIP_ICE_PORT_MIN: '40000', WHIP_ICE_PORT_MAX: '40100', WHIP_MEDIA_TIMEOUT_SECONDS: '2.5' }).whip)
      .toMatchObject({ port: 0, ice: { hostAddresses: ['127.0.0.1'], portRange: [40000, 40100] }, limits: { mediaTimeoutMs: 2500 } });
  });

  it('refuses half an ICE port range or an empty one, naming the variable', () => {
    expect(() => derive({ WHIP_ICE_PORT_MIN: '40000' })).toThrow(ConfigError);
    expect(() => derive({ WHIP_ICE_PORT_MIN: '40000', WHIP_ICE_PORT_MAX: '40000' })).toThrow(/WHIP_ICE_PORT_MAX/);
  });
});
