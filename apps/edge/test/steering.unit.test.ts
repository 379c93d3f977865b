/**
 * Content steering on master playlists (RFC 8216bis §4.4.6.6, HLS Content Steering): the
 * EXT-X-CONTENT-STEERING tag before the variants, this edge's PATHWAY-ID on its variants, the
 * other edges' copies with absolute URIs, nothing else touched; and the settings' checks.
 */
import { describe, expect, it } from 'vitest';
import { addContentSteering, checkEdgeSteering, splitAttributes, steeringOrigins, steeringServerUri } from '../src/steering.js';
import { rewritePlaylist } from '../src/app.js';
import { deriveEdgeConfig, edgeConfigSchema } from '../src/config.js';
import { loadConfig } from '@live/runtime';

const MASTER = [
  '#EXTM3U',
  '#EXT-X-VERSION:7',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000',
  '720p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"',
  '360p/index.m3u8',
  '',
].join('\n');

const PATHWAYS = [{ id: 'edge-1', url: 'http://127.0.0.1:8081' }, { id: 'edge-2', url: 'https://e2.example:8443' }];
const ON_1 = { pathwayId: 'edge-1', pathways: PATHWAYS, serverUri: '/api/streams/s1/steering', masterPath: '/live/ch_1/master.m3u8' };

describe('addContentSteering', () => {
  it('adds the steering tag, this edge\'s PATHWAY-ID, and the other edge\'s copies with absolute URIs', () => {
    expect(addContentSteering(MASTER, ON_1)).toBe([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-CONTENT-STEERING:SERVER-URI="/api/streams/s1/steering",PATHWAY-ID="edge-1"',
      '#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000,PATHWAY-ID="edge-1"',
      '720p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="edge-1"',
      '360p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000,PATHWAY-ID="edge-2"',
      'https://e2.example:8443/live/ch_1/720p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="edge-2"',
      'https://e2.example:8443/live/ch_1/360p/index.m3u8',
      '',
    ].join('\n'));
  });

  it('starts with the serving edge\'s pathway whichever edge it is', () => {
    const out = addContentSteering(MASTER, { ...ON_1, pathwayId: 'edge-2', masterPath: '/sessions/s1/vod.m3u8' });
    expect(out).toContain('#EXT-X-CONTENT-STEERING:SERVER-URI="/api/streams/s1/steering",PATHWAY-ID="edge-2"\n');
    expect(out).toContain('FRAME-RATE=30.000,PATHWAY-ID="edge-2"\n720p/index.m3u8\n');
    expect(out).toContain('FRAME-RATE=30.000,PATHWAY-ID="edge-1"\nhttp://127.0.0.1:8081/sessions/s1/720p/index.m3u8\n');
  });

  it('replaces an earlier steering tag and PATHWAY-ID, copies I-frame variants, keeps renditions and CRLF', () => {
    const master = [
      '#EXTM3U',
      '#EXT-X-CONTENT-STEERING:SERVER-URI="https://old.example/s.json",PATHWAY-ID="old"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8"',
      '#EXT-X-STREAM-INF:PATHWAY-ID="old",BANDWIDTH=1,CODECS="a,b",AUDIO="aud"',
      'v/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="v/iframes.m3u8"',
      '',
    ].join('\r\n');
    expect(addContentSteering(master, { ...ON_1, serverUri: 'https://api.example/api/streams/x/steering' })).toBe([
      '#EXTM3U',
      '#EXT-X-CONTENT-STEERING:SERVER-URI="https://api.example/api/streams/x/steering",PATHWAY-ID="edge-1"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a,b",AUDIO="aud",PATHWAY-ID="edge-1"',
      'v/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="v/iframes.m3u8",PATHWAY-ID="edge-1"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a,b",AUDIO="aud",PATHWAY-ID="edge-2"',
      'https://e2.example:8443/live/ch_1/v/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="https://e2.example:8443/live/ch_1/v/iframes.m3u8",PATHWAY-ID="edge-2"',
      '',
    ].join('\r\n'));
  });

  it('leaves a media playlist alone', () => {
    const media = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_1.m4s\n';
    expect(addContentSteering(media, ON_1)).toBe(media);
  });

  it('after token rewriting: every pathway\'s variants carry the token, the steering URI does not', () => {
    const out = addContentSteering(rewritePlaylist(MASTER, 'tok'), ON_1);
    expect(out).toContain('#EXT-X-CONTENT-STEERING:SERVER-URI="/api/streams/s1/steering",PATHWAY-ID="edge-1"');
    expect(out).toContain('\n720p/index.m3u8?token=tok\n');
    expect(out).toContain('\nhttps://e2.example:8443/live/ch_1/720p/index.m3u8?token=tok\n');
  });

  it('refuses a pathway id or URI that would break the attribute list, or an id not among the pathways', () => {
    expect(() => addContentSteering(MASTER, { ...ON_1, pathwayId: 'a"b' })).toThrow(RangeError);
    expect(() => addContentSteering(MASTER, { ...ON_1, serverUri: '/s"x' })).toThrow(RangeError);
    expect(() => addContentSteering(MASTER, { ...ON_1, pathwayId: 'edge-3' })).toThrow(/not one of the pathways/);
  });
});

describe('helpers', () => {
  it('splitAttributes keeps commas inside quoted strings', () => {
    expect(splitAttributes('BANDWIDTH=1,CODECS="a,b",X="y"')).toEqual(['BANDWIDTH=1', 'CODECS="a,b"', 'X="y"']);
  });

  it('steeringServerUri appends /<id>/steering once, id encoded', () => {
    expect(steeringServerUri('/api/streams', 's1')).toBe('/api/streams/s1/steering');
    expect(steeringServerUri('https://api.example/api/streams/', 'a b')).toBe('https://api.example/api/streams/a%20b/steering');
  });

  it('steeringOrigins: every edge, and an absolute steering server', () => {
    expect(steeringOrigins({ pathwayId: 'edge-1', serverUrl: '/api/streams', pathways: PATHWAYS })).toEqual(['http://127.0.0.1:8081', 'https://e2.example:8443']);
    expect(steeringOrigins({ pathwayId: 'edge-1', serverUrl: 'https://e2.example:8443/api/streams', pathways: PATHWAYS })).toEqual(['http://127.0.0.1:8081', 'https://e2.example:8443']);
    expect(steeringOrigins({ pathwayId: 'edge-1', serverUrl: 'https://api.example/api/streams', pathways: PATHWAYS })).toEqual(['http://127.0.0.1:8081', 'https://e2.example:8443', 'https://api.example']);
  });

  it.each([
    [{ pathwayId: 'edge-1', serverUrl: '/api/streams' }, true],
    [{ pathwayId: 'edge_1.x', serverUrl: 'https://api.example/api/streams' }, true],
    [{ pathwayId: '', serverUrl: '/api/streams' }, false],
    [{ pathwayId: 'a b', serverUrl: '/api/streams' }, false],
    [{ pathwayId: 'a', serverUrl: 'api/streams' }, false],
    [{ pathwayId: 'a', serverUrl: '//api.example/x' }, false],
    [{ pathwayId: 'a', serverUrl: 'ftp://api.example/x' }, false],
  ])('checkEdgeSteering %j → %s', (s, ok) => {
    if (ok) expect(checkEdgeSteering(s)).toEqual(s);
    else expect(() => checkEdgeSteering(s)).toThrow(RangeError);
  });
});

describe('settings', () => {
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', STORAGE_DIR: '/tmp/edge-steering-unit' };
  const steering = { EDGE_PATHWAY_ID: 'edge-1', EDGE_STEERING_URL: '/api/streams', EDGE_PATHWAYS: 'edge-1=http://127.0.0.1:8081,edge-2=http://127.0.0.1:8083' };
  const derive = (env: Record<string, string>) => deriveEdgeConfig(loadConfig(edgeConfigSchema, { env: { ...base, ...env } }));

  it('is off by default', () => {
    expect(derive({}).steering).toBeUndefined();
  });

  it('takes EDGE_PATHWAY_ID, EDGE_STEERING_URL and EDGE_PATHWAYS', () => {
    expect(derive(steering).steering).toEqual({
      pathwayId: 'edge-1', serverUrl: '/api/streams', pathways: [{ id: 'edge-1', url: 'http://127.0.0.1:8081' }, { id: 'edge-2', url: 'http://127.0.0.1:8083' }],
    });
  });

  it('ignores EDGE_PATHWAYS alone (an environment shared with the API)', () => {
    expect(derive({ EDGE_PATHWAYS: steering.EDGE_PATHWAYS }).steering).toBeUndefined();
  });

  it('wants all three with EDGE_PATHWAY_ID, and valid ones', () => {
    const without = (k: keyof typeof steering) => Object.fromEntries(Object.entries(steering).filter(([n]) => n !== k));
    expect(() => derive(without('EDGE_STEERING_URL'))).toThrow(/^EDGE_STEERING_URL is required/);
    expect(() => derive(without('EDGE_PATHWAY_ID'))).toThrow(/^EDGE_PATHWAY_ID is required/);
    expect(() => derive(without('EDGE_PATHWAYS'))).toThrow(/^EDGE_PATHWAYS is required/);
    expect(() => derive({ ...steering, EDGE_PATHWAY_ID: 'edge 1' })).toThrow(/EDGE_PATHWAY_ID/);
    expect(() => derive({ ...steering, EDGE_PATHWAY_ID: 'edge-3' })).toThrow(/^EDGE_PATHWAY_ID edge-3 is not one of EDGE_PATHWAYS/);
    expect(() => derive({ ...steering, EDGE_STEERING_URL: 'api' })).toThrow(/EDGE_STEERING_URL/);
    expect(() => derive({ ...steering, EDGE_PATHWAYS: 'edge-1=http://127.0.0.1:8081/x' })).toThrow(/^EDGE_PATHWAYS: /);
  });
});
