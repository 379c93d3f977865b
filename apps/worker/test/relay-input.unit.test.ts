/**
 * openRelayStream against the real relay endpoint (apps/ingest/src/relay) and against small
 * misbehaving servers: Bearer only, the relay's refusals as RelayInputError with status and
 * code, a reset or stalled stream fails, abort and destroy close the connection, and neither
 * the token nor a query string appears in any error or relay log line.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openRelayStream, RelayInputError } from '../src/relay-input.js';
import { closedPort, startRealRelay, type RealRelay } from './helpers/real-relay.js';

const TOKEN = 'relay-unit-s3cret-9f2c';
const SESSION = '01900000-0000-7000-8000-00000000a001';
const avcHeader = Buffer.from([0x17, 0, 0, 0, 0, 1, 2, 3]);

let relay: RealRelay | undefined;
let other: Server | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  if (other) {
    other.closeAllConnections();
    await new Promise<void>((resolve) => other!.close(() => resolve()));
    other = undefined;
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  other = createServer(handler);
  await new Promise<void>((resolve) => other!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
}

/** Collects a stream until it ends (data) or fails (error). */
function drain(stream: Readable): Promise<{ data: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve({ data: Buffer.concat(chunks) }));
    stream.once('error', (error) => resolve({ data: Buffer.concat(chunks), error }));
  });
}

describe('openRelayStream', () => {
  it('streams a live session from the real relay with the Bearer token until the publish ends', async () => {
    relay = await startRealRelay(TOKEN);
    const sink = relay.relay.openPublish({
      sessionId: SESSION, channelId: 'demo', app: 'live', remoteAddress: '127.0.0.1', startedAt: new Date(), media: { video: { codec: 'h264' } },
    });
    sink.write({ kind: 'video', timestamp: 0, payload: avcHeader, keyframe: true, sequenceHeader: true });
    const stream = await openRelayStream(`${relay.base}/relay/${SESSION}.flv`, { token: TOKEN });
    const done = drain(stream);
    await relay.log.waitFor((l) => l.msg === 'relay subscriber attached');
    sink.write({ kind: 'video', timestamp: 10, payload: Buffer.from([0x17, 1, 0, 0, 0, 9, 9]), keyframe: true, sequenceHeader: false });
    sink.end('unpublished');
    const { data, error } = await done;
    expect(error).toBeUndefined();
    expect(data.toString('latin1', 0, 3)).toBe('FLV');
    expect(data.includes(avcHeader)).toBe(true);
    expect(relay.log.text()).not.toContain(TOKEN);
  });

  it('turns the relay\'s refusals into RelayInputError with status and code, never quoting the token', async () => {
    relay = await startRealRelay(TOKEN);
    relay.relay.openPublish({ sessionId: SESSION, channelId: 'demo', app: 'live', remoteAddress: '127.0.0.1', startedAt: new Date(), media: {} });
    const url = `${relay.base}/relay/${SESSION}.flv`;
    const wrong = await openRelayStream(url, { token: 'not-the-token' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(RelayInputError);
    expect(wrong).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect((wrong as Error).message).toBe(`relay ${url} answered 401 UNAUTHORIZED`);
    const gone = await openRelayStream(`${relay.base}/relay/01900000-0000-7000-8000-00000000dead.flv`, { token: TOKEN }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 404, code: 'RELAY_SESSION_NOT_FOUND' });
    // a query string (a legacy ?token=) is neither needed nor quoted
    const legacy = await openRelayStream(`${relay.base}/relay/01900000-0000-7000-8000-00000000dead.flv?token=${TOKEN}`, { token: 'x' }).catch((e: unknown) => e);
    expect(legacy).toMatchObject({ status: 401 });
    expect((legacy as Error).message).not.toContain(TOKEN);
    expect(relay.log.text()).not.toContain(TOKEN);
    expect(relay.log.text()).not.toContain('not-the-token');

    const refused = await openRelayStream(`http://127.0.0.1:${await closedPort()}/relay/${SESSION}.flv`, { token: TOKEN }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RelayInputError);
    expect((refused as RelayInputError).status).toBeUndefined();
    expect((refused as Error).message).toMatch(/unreachable: .*ECONNREFUSED/);
    expect((refused as Error).message).not.toContain(TOKEN);
  });

  it('sends the token in the Authorization header only, and follows no redirect', async () => {
    const seen: Array<{ url: string | undefined; authorization: string | undefined }> = [];
    const base = await serve((req, res) => {
      seen.push({ url: req.url, authorization: req.headers.authorization });
      if (req.url === '/moved.flv') {
        res.writeHead(302, { location: '/relay/x.flv' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'video/x-flv' }).end('FLV');
    });
    expect((await drain(await openRelayStream(`${base}/relay/x.flv`, { token: TOKEN }))).data.toString()).toBe('FLV');
    expect(seen).toEqual([{ url: '/relay/x.flv', authorization: `Bearer ${TOKEN}` }]);
    const redirected = await openRelayStream(`${base}/moved.flv`, { token: TOKEN }).catch((e: unknown) => e);
    expect(redirected).toBeInstanceOf(RelayInputError);
    expect(seen).toHaveLength(2); // the Location was not followed
  });

  it('fails the stream when the connection breaks mid-stream (not a clean end)', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/x-flv' });
      res.write('FLV-some-bytes', () => res.destroy()); // no terminating chunk
    });
    const { data, error } = await drain(await openRelayStream(`${base}/relay/x.flv`, { token: TOKEN }));
    expect(data.toString()).toBe('FLV-some-bytes');
    expect(error).toBeInstanceOf(RelayInputError);
    expect((error as Error).message).toMatch(/^relay stream http:\/\/127\.0\.0\.1:\d+\/relay\/x\.flv failed: terminated/);
  });

  it('fails a stalled stream after stallTimeoutMs, and gives up on missing response headers', async () => {
    let stalled: ServerResponse | undefined;
    const base = await serve((req, res) => {
      if (req.url === '/no-headers.flv') return; // never answers
      res.writeHead(200, { 'content-type': 'video/x-flv' });
      res.write('FLV');
      stalled = res;
    });
    const { data, error } = await drain(await openRelayStream(`${base}/relay/x.flv`, { token: TOKEN, stallTimeoutMs: 300 }));
    expect(data.toString()).toBe('FLV');
    expect(error).toBeInstanceOf(RelayInputError);
    expect((error as Error).message).toMatch(/stalled: no data for 300 ms/);
    await new Promise<void>((resolve) => (stalled!.destroyed ? resolve() : stalled!.once('close', () => resolve()))); // we closed the connection
    const noHeaders = await openRelayStream(`${base}/no-headers.flv`, { token: TOKEN, stallTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(noHeaders).toBeInstanceOf(RelayInputError);
    expect((noHeaders as Error).message).toMatch(/sent no response within 300 ms/);
  });

  it('abort: before the response rejects with the reason; after it, ends the stream without an error and closes the connection', async () => {
    relay = await startRealRelay(TOKEN);
    relay.relay.openPublish({ sessionId: SESSION, channelId: 'demo', app: 'live', remoteAddress: '127.0.0.1', startedAt: new Date(), media: { video: { codec: 'h264' } } });
    const url = `${relay.base}/relay/${SESSION}.flv`;
    const early = new AbortController();
    early.abort(new Error('activity cancelled'));
    await expect(openRelayStream(url, { token: TOKEN, signal: early.signal })).rejects.toThrow('activity cancelled');

    const controller = new AbortController();
    const stream = await openRelayStream(url, { token: TOKEN, signal: controller.signal });
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    let error: unknown;
    stream.once('error', (e) => (error = e));
    stream.resume();
    await relay.log.waitFor((l) => l.msg === 'relay subscriber attached');
    controller.abort(new Error('activity cancelled'));
    await closed;
    expect(error).toBeUndefined();
    await relay.log.waitFor((l) => l.msg === 'relay subscriber detached'); // the relay saw the connection go
    expect(relay.relay.sessions()[0]!.subscribers).toBe(0);
  });
});
