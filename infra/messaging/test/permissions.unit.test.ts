/**
 * The per-service NATS permissions as data (the rules of the issue, checked on the lists with
 * nats-server's matching semantics) and the rendered `authorization` block. The same rules
 * against a real nats-server: infra/dev/test/nats-permissions.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import {
  isSubjectAllowed, NATS_SERVICES, natsAuthFromEnv, natsInboxPrefix, natsUsersFor, renderNatsAuthorization, renderPlatformAuthorization,
  servicePermissions, subjectMatches, type NatsService,
} from '../src/index.js';

const APPS: NatsService[] = ['ingest', 'worker', 'api', 'chat', 'projector'];
const pub = (s: NatsService, subject: string) => isSubjectAllowed(servicePermissions(s).publish, subject);
const sub = (s: NatsService, subject: string) => isSubjectAllowed(servicePermissions(s).subscribe, subject);

describe('subjectMatches (nats-server semantics)', () => {
  it('matches * as one token, > as one or more, literal tokens literally', () => {
    expect(subjectMatches('evt.stream.*', 'evt.stream.demo')).toBe(true);
    expect(subjectMatches('evt.stream.*', 'evt.stream.a.b')).toBe(false);
    expect(subjectMatches('evt.>', 'evt.user.u1')).toBe(true);
    expect(subjectMatches('evt.>', 'evt')).toBe(false);
    expect(subjectMatches('$JS.API.CONSUMER.CREATE.EVENTS.*.evt.stream.*', '$JS.API.CONSUMER.CREATE.EVENTS.oc_1.evt.stream.*')).toBe(true);
    // A `>` in the requested filter is a literal token for the permission check.
    expect(subjectMatches('$JS.API.CONSUMER.CREATE.EVENTS.*.evt.stream.*', '$JS.API.CONSUMER.CREATE.EVENTS.oc_1.evt.>')).toBe(false);
  });
});

describe('servicePermissions', () => {
  it('lets ingest append evt.stream.* and never evt.user.*', () => {
    expect(pub('ingest', 'evt.stream.demo')).toBe(true);
    expect(pub('ingest', 'evt.user.u1')).toBe(false);
    expect(pub('ingest', 'evt.channel.demo')).toBe(false);
  });

  it('lets no app but the projector read password-bearing evt.user.* events, by any route', () => {
    for (const s of APPS) {
      const reads = s === 'projector';
      expect(sub(s, 'evt.user.u1'), `${s} subscribe`).toBe(false);
      expect(sub(s, '_INBOX.x'), `${s} foreign inbox`).toBe(false);
      expect(pub(s, '$JS.API.CONSUMER.CREATE.EVENTS.x.evt.user.*'), `${s} consumer on evt.user.*`).toBe(reads);
      expect(pub(s, '$JS.API.CONSUMER.CREATE.EVENTS.x.evt.>'), `${s} consumer on evt.>`).toBe(reads);
      expect(pub(s, '$JS.API.CONSUMER.CREATE.EVENTS.x'), `${s} unfiltered consumer`).toBe(false);
      expect(pub(s, '$JS.API.CONSUMER.CREATE.EVENTS'), `${s} legacy ephemeral consumer`).toBe(false);
      expect(pub(s, '$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.x'), `${s} legacy durable`).toBe(false);
      expect(pub(s, '$JS.API.STREAM.MSG.GET.EVENTS'), `${s} message get`).toBe(false);
      expect(pub(s, '$JS.API.DIRECT.GET.EVENTS'), `${s} direct get`).toBe(false);
      expect(pub(s, '$JS.API.DIRECT.GET.EVENTS.evt.user.u1'), `${s} direct get by subject`).toBe(false);
      expect(pub(s, '$JS.API.CONSUMER.MSG.NEXT.EVENTS.projector-readmodels'), `${s} pulls the projector's durable`).toBe(reads);
    }
    expect(sub('projector', '_INBOX_projector.abc.1')).toBe(true);
  });

  it('keeps every app from creating, updating, purging or deleting streams and erasing events', () => {
    for (const s of APPS) {
      for (const op of ['CREATE', 'UPDATE', 'DELETE', 'PURGE']) {
        for (const stream of ['EVENTS', 'LEASES', 'CHAT', 'TELEMETRY']) expect(pub(s, `$JS.API.STREAM.${op}.${stream}`), `${s} ${op} ${stream}`).toBe(false);
      }
      expect(pub(s, '$JS.API.STREAM.MSG.DELETE.EVENTS')).toBe(false);
      expect(pub(s, '$JS.API.STREAM.INFO.EVENTS')).toBe(true);
    }
    expect(pub('cli', '$JS.API.STREAM.UPDATE.EVENTS')).toBe(true);
    expect(pub('bootstrap', '$JS.API.STREAM.CREATE.EVENTS')).toBe(true);
  });

  it('keeps identities off each other\'s durable consumers and inboxes', () => {
    expect(pub('ingest', '$JS.API.CONSUMER.MSG.NEXT.EVENTS.oc_abc_1')).toBe(true);
    expect(pub('ingest', '$JS.API.CONSUMER.MSG.NEXT.EVENTS.lifecycle')).toBe(false);
    expect(pub('ingest', '$JS.API.CONSUMER.CREATE.EVENTS.lifecycle.evt.stream.*')).toBe(false);
    expect(pub('ingest', '$JS.API.CONSUMER.DELETE.EVENTS.analytics-events')).toBe(false);
    expect(pub('worker', '$JS.API.CONSUMER.CREATE.EVENTS.lifecycle.evt.stream.*')).toBe(true);
    expect(pub('worker', '$JS.ACK.EVENTS.lifecycle.1.5.5.123.0')).toBe(true);
    expect(pub('worker', '$JS.ACK.EVENTS.projector-readmodels.1.5.5.123.0')).toBe(false);
    expect(pub('api', '$JS.API.CONSUMER.MSG.NEXT.CHAT.analytics-chat')).toBe(false);
    expect(pub('projector', '$JS.API.CONSUMER.MSG.NEXT.EVENTS.lifecycle')).toBe(false);
    for (const s of NATS_SERVICES.filter((x) => x !== 'bootstrap')) {
      const own = `_INBOX_${s}`;
      expect(sub(s, `${own}.x.y`)).toBe(true);
      for (const other of NATS_SERVICES.filter((x) => x !== s)) expect(sub(s, `_INBOX_${other}.x.y`), `${s} reads ${other}'s replies`).toBe(false);
    }
  });

  it('grants what each app does', () => {
    expect(pub('api', 'evt.user.u1') && pub('api', 'evt.claim.username.abcdef0123456789') && pub('api', 'chat.demo') && pub('api', 'tel.demo')).toBe(true);
    expect(pub('api', '$JS.API.DIRECT.GET.EVENTS.evt.claim.email.abcdef0123456789')).toBe(true);
    expect(sub('api', 'notify.user.u1')).toBe(true);
    expect(pub('chat', 'presence.chat.gw1') && pub('chat', 'chat.demo') && pub('chat', 'evt.channel.demo')).toBe(true);
    expect(sub('chat', 'evt.channel.demo') && sub('chat', 'evt.stream.demo') && sub('chat', 'evt.platform.chat')).toBe(true);
    expect(pub('chat', 'evt.user.u1')).toBe(false);
    expect(pub('projector', 'notify.user.u1') && pub('projector', '$KV.leases.projector.presence') && sub('projector', 'presence.chat.gw1')).toBe(true);
    expect(pub('projector', 'lease.presence.viewers')).toBe(false);
    expect(pub('ingest', 'lease.publish.demo') && pub('ingest', '$JS.API.STREAM.MSG.GET.LEASES')).toBe(true);
    expect(pub('worker', 'evt.channel.demo')).toBe(false);
  });

  it('lets the worker announce media and the edge only hear media announcements', () => {
    expect(pub('worker', 'media.s1')).toBe(true);
    for (const s of ['ingest', 'api', 'chat', 'projector', 'edge'] as const) expect(pub(s, 'media.s1'), `${s} announces media`).toBe(false);
    expect(sub('edge', 'media.s1') && sub('edge', '_INBOX_edge.x.y') && pub('edge', '$JS.API.INFO')).toBe(true);
    expect(sub('edge', 'media.s1.x') || sub('edge', 'evt.user.u1') || sub('edge', 'evt.stream.demo') || sub('edge', 'chat.demo')).toBe(false);
    for (const subject of ['evt.stream.demo', 'chat.demo', '$JS.API.STREAM.INFO.EVENTS', '$JS.API.CONSUMER.CREATE.EVENTS.x.evt.>', '$JS.API.STREAM.MSG.GET.EVENTS']) {
      expect(pub('edge', subject), `edge publishes ${subject}`).toBe(false);
    }
  });
});

describe('renderNatsAuthorization', () => {
  it('renders one user per identity with bcrypt hashes and no anonymous user', async () => {
    const text = await renderPlatformAuthorization({ api: { user: 'api', password: 'pw-api' }, ingest: { user: 'ing', password: 'pw-ing' } }, { bcryptCost: 4, comment: 'test' });
    expect(text).toMatch(/^# test\nauthorization \{\n {2}users = \[\n/);
    expect(text).not.toContain('no_auth_user');
    expect(text).not.toContain('pw-api');
    const hashes = [...text.matchAll(/password: "([^"]+)"/g)].map((m) => m[1]!);
    expect(hashes).toHaveLength(2);
    expect(await bcrypt.compare('pw-ing', hashes[0]!)).toBe(true); // ingest comes first
    expect(text).toContain('"_INBOX_ing.>"');
    expect(text).toContain('deny: [');
  });

  it('writes plain passwords when asked and refuses unsafe values', async () => {
    const users = natsUsersFor({ cli: { user: 'ops', password: 'plain-pw' } });
    expect(await renderNatsAuthorization(users, { hashPasswords: false })).toContain('password: "plain-pw"');
    await expect(renderNatsAuthorization([{ ...users[0]!, password: 'a"b' }])).rejects.toThrow(TypeError);
    expect(() => natsUsersFor({ cli: { user: 'a b', password: 'x' } })).toThrow(TypeError);
    expect(() => natsUsersFor({ cli: { user: 'same', password: 'x' }, api: { user: 'same', password: 'y' } })).toThrow(/two identities/);
    await expect(renderNatsAuthorization(users, { bcryptCost: 3 })).rejects.toThrow(RangeError);
  });
});

describe('natsAuthFromEnv', () => {
  it('reads one kind of credentials and the inbox prefix', () => {
    expect(natsAuthFromEnv({})).toBeUndefined();
    expect(natsAuthFromEnv({ NATS_USER: 'api', NATS_PASSWORD: 'p' })).toEqual({ user: 'api', pass: 'p' });
    expect(natsAuthFromEnv({ NATS_TOKEN: 't', NATS_INBOX_PREFIX: 'mine' })).toEqual({ token: 't', inboxPrefix: 'mine' });
    expect(natsAuthFromEnv({ NATS_CREDS: '/x.creds', NATS_USER: '' })).toEqual({ credsFile: '/x.creds' });
    expect(() => natsAuthFromEnv({ NATS_USER: 'api' })).toThrow(/NATS_PASSWORD/);
    expect(() => natsAuthFromEnv({ NATS_TOKEN: 't', NATS_USER: 'u', NATS_PASSWORD: 'p' })).toThrow(/only one/);
    expect(natsInboxPrefix({ user: 'api', pass: 'p' })).toBe('_INBOX_api');
    expect(natsInboxPrefix({ token: 't' })).toBeUndefined();
  });
});
