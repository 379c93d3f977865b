import { Type } from '@sinclair/typebox';
import { domainEvent, userNotificationSubject, userSubject } from '@live/events';
import { ApiError, ErrorBody } from '../errors.js';
import { requireUser, type ApiApp, type ApiContext } from '../context.js';
import { decodeCursor, pageOf } from './cursor.js';

/** Seconds between SSE comment lines that keep proxies from closing an idle stream. */
export const SSE_HEARTBEAT_SECONDS = 15;

/** A kept notification as the API returns it. */
export const NotificationView = Type.Object({
  id: Type.String(),
  type: Type.Literal('FollowedChannelWentLive'),
  createdAt: Type.String(),
  read: Type.Boolean(),
  channelId: Type.String(),
  channelName: Type.String(),
  title: Type.String(),
  sessionId: Type.String(),
  startedAt: Type.String(),
});

/**
 * Notification routes (signed in):
 * - `GET /api/notifications?limit=&cursor=`: kept notifications, newest first, with the unread count;
 * - `POST /api/notifications/read {upTo?}`: marks everything up to `upTo` (default now) read (event NotificationsRead);
 * - `GET /api/notifications/stream`: Server-Sent Events (WHATWG HTML §9.2): each `FollowedChannelWentLive`
 *   pushed for the user while connected arrives as `event: FollowedChannelWentLive` with the JSON
 *   notification as `data`; a comment line every {@link SSE_HEARTBEAT_SECONDS} s. Browsers' EventSource
 *   authenticates with `?access_token=`. The stream relays core NATS `notify.user.<userId>`.
 */
export async function notificationRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const tags = ['notifications'];

  app.get('/api/notifications', {
    schema: {
      tags,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ unread: Type.Integer(), items: Type.Array(NotificationView), nextCursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorBody, 401: ErrorBody },
    },
  }, async (req) => {
    const u = requireUser(req);
    const me = await ctx.db.selectFrom('users').select('notifications_read_up_to').where('id', '=', u.userId).executeTakeFirst();
    const readUpTo = me?.notifications_read_up_to?.getTime() ?? 0;
    const after = req.query.cursor !== undefined ? decodeCursor(req.query.cursor) : null;
    let q = ctx.db.selectFrom('notifications').select(['id', 'type', 'payload', 'created_at']).where('user_id', '=', u.userId)
      .orderBy('created_at', 'desc').orderBy('id').limit(req.query.limit + 1);
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', new Date(after.t)), eb.and([eb('created_at', '=', new Date(after.t)), eb('id', '>', after.id)])]));
    const rows = await q.execute();
    let unreadQ = ctx.db.selectFrom('notifications').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', u.userId);
    if (readUpTo > 0) unreadQ = unreadQ.where('created_at', '>', new Date(readUpTo));
    const unread = await unreadQ.executeTakeFirstOrThrow();
    const { page, nextCursor } = pageOf(rows, req.query.limit, (r) => ({ t: r.created_at.toISOString(), id: r.id }));
    return {
      unread: Number(unread.n),
      items: page.map((r) => {
        const p = r.payload as { channelId: string; channelName: string; title: string; sessionId: string; startedAt: string };
        return { id: r.id, type: r.type, createdAt: r.created_at.toISOString(), read: r.created_at.getTime() <= readUpTo, channelId: p.channelId, channelName: p.channelName, title: p.title, sessionId: p.sessionId, startedAt: p.startedAt };
      }),
      nextCursor,
    };
  });

  app.post('/api/notifications/read', {
    schema: {
      tags,
      body: Type.Object({ upTo: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
      response: { 204: Type.Null(), 400: ErrorBody, 401: ErrorBody },
    },
  }, async (req, reply) => {
    const u = requireUser(req);
    const nowMs = ctx.clock.now();
    const upTo = req.body.upTo !== undefined ? Math.min(Date.parse(req.body.upTo), nowMs) : nowMs;
    await ctx.commit([domainEvent(ctx.clock, 'NotificationsRead', userSubject(u.userId), { userId: u.userId, readUpTo: new Date(upTo).toISOString() }, { producer: 'api' })]);
    return reply.status(204).send(null);
  });

  app.get('/api/notifications/stream', {
    schema: { tags, querystring: Type.Object({ access_token: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: false }), response: { 401: ErrorBody, 503: ErrorBody } },
  }, async (req, reply) => {
    const u = requireUser(req);
    if (!ctx.messaging) throw new ApiError('EVENT_LOG_UNAVAILABLE', 'Live notifications need NATS.');
    const sub = ctx.messaging.nc.subscribe(userNotificationSubject(u.userId));
    // Headers set by the hooks (CORS, security headers) so far live on the reply; a hijacked reply
    // writes them itself.
    const hookHeaders = Object.fromEntries(Object.entries(reply.getHeaders()).filter(([, v]) => v !== undefined)) as Record<string, string | string[] | number>;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...hookHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 3000\n: connected\n\n`);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_SECONDS * 1000);
    const close = () => {
      clearInterval(heartbeat);
      sub.unsubscribe();
    };
    req.raw.on('close', close);
    void (async () => {
      for await (const m of sub) {
        const data = m.string();
        let id = '';
        try { id = String((JSON.parse(data) as { id?: unknown }).id ?? ''); } catch { continue; }
        res.write(`id: ${id.replace(/[\r\n]/g, '')}\nevent: FollowedChannelWentLive\ndata: ${data.replace(/[\r\n]/g, '')}\n\n`);
      }
    })().catch(() => undefined).finally(() => { clearInterval(heartbeat); res.end(); });
  });
}
