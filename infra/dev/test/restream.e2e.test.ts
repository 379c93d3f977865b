/**
 * Restreaming end to end (issue 16 item 2) against a real RTMP server nobody here wrote:
 * Debian's nginx with `libnginx-mod-rtmp`, started by the test on a free port. A streamer adds
 * nginx as a destination through the API (the key comes back masked only); while ffmpeg
 * publishes to our ingest, nginx receives the broadcast (ffprobe reads it from nginx's RTMP
 * output and nginx writes its own HLS); nginx is SIGKILLed mid-stream and restarted on the same
 * port, and the destination reconnects (RestreamReconnecting, then RestreamStarted with a later
 * attempt; the API shows it `live` again) and ffprobe reads from nginx again; a destination added
 * while live is pushed at once and removing it stops its push; the publish's end stops the push
 * (RestreamStopped, state `stopped`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_STREAM, streamSubject, type DomainEvent, type EventOf } from '@live/events';
import { readEvents } from '@live/messaging';
import { publishTestPattern, startTestStack, waitFor, type TestStack } from '../src/testing.js';
import { freePort } from '../src/services/index.js';
import { killNginx, startNginxRtmp, type NginxRtmp } from '../src/nginx-rtmp.js';

const execFileAsync = promisify(execFile);

let t: TestStack;
let nginxDir: string;
let nginx: NginxRtmp | undefined;
beforeAll(async () => {
  nginxDir = mkdtempSync(join(tmpdir(), 'e2e-restream-nginx-'));
  t = await startTestStack('e2e-restream');
}, 240_000);
afterAll(async () => {
  if (nginx) await killNginx(nginx);
  await t?.stop();
  if (nginxDir) {
    console.log(`nginx error log (last lines):\n${existsSync(join(nginxDir, 'error.log')) ? readFileSync(join(nginxDir, 'error.log'), 'utf8').split('\n').slice(-15).join('\n') : '(none)'}`);
    rmSync(nginxDir, { recursive: true, force: true });
  }
}, 60_000);

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const r = await fetch(`${t.stack.info.apiUrl}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : null) as T };
}

/** ffprobe of `url` (at most 20 s): its streams' codecs. */
async function probeStreams(url: string): Promise<Array<{ codec_type: string; codec_name: string; width?: number; height?: number }>> {
  const { stdout } = await execFileAsync(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-rw_timeout', '15000000', '-show_streams', '-of', 'json', url], { timeout: 20_000 });
  return (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number }> }).streams;
}

interface DestinationView { id: string; name: string; url: string; maskedKey: string; enabled: boolean; state: string; attempt: number; reason: string | null }

type RestreamEvent = EventOf<'RestreamStarted' | 'RestreamReconnecting' | 'RestreamStopped'>;
const restreamEvents = async (channelId: string, destinationId: string): Promise<RestreamEvent[]> =>
  (await readEvents(t.messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event as DomainEvent)
    .filter((e): e is RestreamEvent => (e.type === 'RestreamStarted' || e.type === 'RestreamReconnecting' || e.type === 'RestreamStopped') && e.data.destinationId === destinationId);

describe('restreaming to nginx-rtmp', () => {
  it('pushes the live broadcast, reconnects after nginx is killed and restarted, stops with the session', async () => {
    const port = await freePort();
    nginx = await startNginxRtmp(nginxDir, port);
    const reg = await api<{ accessToken: string }>('POST', '/api/users/register', { username: 'simulcaster', email: 'simulcaster@example.com', password: 'secret-simulcaster-123' });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const token = reg.body.accessToken;
    const ch = await api<{ channelId: string }>('POST', '/api/channels', { displayName: 'Simulcaster' }, token);
    expect(ch.status, JSON.stringify(ch.body)).toBe(201);
    const channelId = ch.body.channelId;
    const base = `/api/channels/${channelId}/restream-destinations`;

    // Refusals: not an RTMP URL; a key in the URL's user info.
    const bad = await api('POST', base, { name: 'web', url: 'http://127.0.0.1/live', key: 'abc' }, token);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'INVALID_RESTREAM_DESTINATION' });
    expect((await api('POST', base, { name: 'creds', url: 'rtmp://u:p@127.0.0.1/live', key: 'abc' }, token)).body).toMatchObject({ code: 'INVALID_RESTREAM_DESTINATION' });

    const destKey = 'nginx-stream-key-0042';
    const added = await api<DestinationView>('POST', base, { name: 'nginx', url: nginx.url, key: destKey }, token);
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body).toMatchObject({ name: 'nginx', url: nginx.url, maskedKey: '********0042', enabled: true, state: 'idle' });
    expect(JSON.stringify(added.body)).not.toContain(destKey);
    const destinationId = added.body.id;
    const listed = await api<{ items: DestinationView[] }>('GET', base, undefined, token);
    expect(JSON.stringify(listed.body)).not.toContain(destKey);
    expect(listed.body.items.map((d) => d.id)).toEqual([destinationId]);
    const stateOf = async (): Promise<DestinationView> => (await api<{ items: DestinationView[] }>('GET', base, undefined, token)).body.items.find((d) => d.id === destinationId)!;

    const start = await api<{ streamKey: string }>('POST', '/api/streams/start', { title: 'Simulcast test' }, token);
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const pub = publishTestPattern(`${t.stack.info.rtmpUrl}/${start.body.streamKey}`, { seconds: 240, width: 426, height: 240, fps: 15, videoKbps: 300 });
    const nginxUrl = `${nginx.url}/${destKey}`;
    try {
      // nginx receives the broadcast: the push is started, ffprobe reads it from nginx, nginx writes HLS.
      await waitFor('RestreamStarted', async () => (await restreamEvents(channelId, destinationId)).find((e) => e.type === 'RestreamStarted'), 90_000);
      const streams = await waitFor('ffprobe reads the stream from nginx', async () => {
        const s = await probeStreams(nginxUrl);
        return s.some((x) => x.codec_type === 'video') ? s : undefined;
      }, 60_000, 1000);
      console.log(`ffprobe of ${nginx.url}/<key> before the kill: ${streams.map((s) => `${s.codec_type}=${s.codec_name}${s.width ? ` ${s.width}x${s.height}` : ''}`).join(', ')}`);
      expect(streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 426, height: 240 });
      expect(streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
      await waitFor('nginx writes HLS of the stream', async () => existsSync(join(nginx!.hlsDir, `${destKey}.m3u8`)), 30_000);
      expect((await waitFor('API shows the destination live', async () => { const d = await stateOf(); return d.state === 'live' ? d : undefined; }, 30_000)).attempt).toBe(1);

      // nginx dies mid-stream: the destination goes reconnecting, then comes back when nginx does.
      await killNginx(nginx);
      const reconnecting = await waitFor('RestreamReconnecting', async () => (await restreamEvents(channelId, destinationId)).find((e) => e.type === 'RestreamReconnecting'), 60_000);
      expect(reconnecting.data).toMatchObject({ attempt: 1 });
      expect((reconnecting.data as { retryInMs: number }).retryInMs).toBe(1000);
      expect(JSON.stringify(reconnecting.data)).not.toContain(destKey);
      expect((await waitFor('API shows the destination reconnecting', async () => { const d = await stateOf(); return d.state === 'reconnecting' ? d : undefined; }, 30_000)).reason).toBeTruthy();
      nginx = await startNginxRtmp(nginxDir, port);
      const restarted = await waitFor('RestreamStarted after the restart', async () =>
        (await restreamEvents(channelId, destinationId)).find((e) => e.type === 'RestreamStarted' && e.data.attempt > 1), 90_000);
      console.log(`reconnected on attempt ${(restarted.data as { attempt: number }).attempt}: ${(await restreamEvents(channelId, destinationId)).map((e) => `${e.type}#${(e.data as { attempt?: number }).attempt ?? ''}`).join(' ')}`);
      await waitFor('API shows the destination live again', async () => (await stateOf()).state === 'live', 30_000);
      const again = await waitFor('ffprobe reads the stream from the restarted nginx', async () => {
        const s = await probeStreams(nginxUrl);
        return s.some((x) => x.codec_type === 'video') ? s : undefined;
      }, 60_000, 1000);
      console.log(`ffprobe of ${nginx.url}/<key> after the restart: ${again.map((s) => `${s.codec_type}=${s.codec_name}`).join(', ')}`);
      expect(again.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264' });

      // A destination added while live is pushed at once; removed while live, its push stops.
      const second = await api<DestinationView>('POST', base, { name: 'nginx 2', url: nginx.url, key: 'second-key-5555' }, token);
      expect(second.status, JSON.stringify(second.body)).toBe(201);
      await waitFor('the second destination started', async () => (await restreamEvents(channelId, second.body.id)).find((e) => e.type === 'RestreamStarted'), 60_000);
      expect((await api('DELETE', `${base}/${second.body.id}`, undefined, token)).status).toBe(204);
      const removed = await waitFor('the second destination stopped', async () => (await restreamEvents(channelId, second.body.id)).find((e) => e.type === 'RestreamStopped'), 30_000);
      expect(removed.data).toMatchObject({ reason: 'removed' });
    } finally {
      pub.child.kill('SIGINT');
      await pub.done;
    }

    // The session's end stops the push.
    const stopped = await waitFor('RestreamStopped', async () => (await restreamEvents(channelId, destinationId)).find((e) => e.type === 'RestreamStopped'), 60_000);
    expect(['session-ended', 'publisher-disconnected']).toContain((stopped.data as { reason: string }).reason);
    await waitFor('API shows the destination stopped', async () => (await stateOf()).state === 'stopped', 30_000);

    // Disabled, then removed.
    const off = await api<DestinationView>('PATCH', `${base}/${destinationId}`, { enabled: false }, token);
    expect(off.body).toMatchObject({ enabled: false, maskedKey: '********0042' });
    expect((await api('DELETE', `${base}/${destinationId}`, undefined, token)).status).toBe(204);
    expect((await api<{ items: unknown[] }>('GET', base, undefined, token)).body.items).toEqual([]);
  }, 420_000);
});
