/**
 * A thin binding of Debian's libsrt (package `libsrt1.5-gnutls`, the one ffmpeg links) through the
 * FFI library koffi: only the calls a non-blocking live-mode listener needs, from libsrt's C API
 * (`srt.h`, SRT 1.5; the option numbers are that header's `SRT_SOCKOPT` values). Every socket the
 * binding creates is non-blocking (`SRTO_RCVSYN`/`SRTO_SNDSYN` false), so no call here waits: the
 * listener polls its epoll set with a zero timeout from the event loop (listener.ts).
 */
import koffi from 'koffi';

/** libsrt's socket id (`SRTSOCKET`, an `int`). */
export type SrtSocket = number;

/** `SRT_EPOLL_IN` of `SRT_EPOLL_OPT`: data to read, or a caller to accept on a listener. */
export const SRT_EPOLL_IN = 0x1;
/** `SRT_EPOLL_ERR` of `SRT_EPOLL_OPT`: the socket is broken or closed. */
export const SRT_EPOLL_ERR = 0x8;
/** `SRT_ERRNO` values the listener tells apart: nothing to read/accept yet (`MJ_AGAIN`). */
export const SRT_EASYNCRCV = 6002;

/** `SRT_SOCKOPT` numbers (srt.h, SRT 1.5). */
export const SRTO = {
  SNDSYN: 1, RCVSYN: 2, LATENCY: 23, PASSPHRASE: 26, STREAMID: 46, TRANSTYPE: 50, PAYLOADSIZE: 49,
} as const;
/** `SRTT_LIVE` of `SRT_TRANSTYPE`. */
export const SRTT_LIVE = 0;

/** Shared object names tried in order: Debian's GnuTLS build (ffmpeg's), then the OpenSSL one, then an unsuffixed build. */
export const LIBSRT_CANDIDATES = ['libsrt-gnutls.so.1.5', 'libsrt-openssl.so.1.5', 'libsrt.so.1.5', 'libsrt.so'] as const;

/** libsrt could not be loaded or a call failed; `code` is libsrt's `SRT_ERRNO` when known. */
export class SrtError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'SrtError';
  }
}

/** Receiver statistics of one socket (`SRT_TRACEBSTATS` totals, srt_bstats). */
export interface SrtReceiveStats {
  /** Data packets received, `pktRecvTotal`. */
  packetsReceived: number;
  /** Packets reported lost by the receiver, `pktRcvLossTotal`. */
  packetsLost: number;
  /** Packets dropped as too late to play, `pktRcvDropTotal`. */
  packetsDropped: number;
}

/** The calls of libsrt the listener uses, bound once per process ({@link loadLibsrt}). */
export interface Libsrt {
  /** srt_create_socket, made non-blocking. @throws SrtError */
  createSocket(): SrtSocket;
  /** srt_setsockflag with an `int` value. @throws SrtError */
  setInt(s: SrtSocket, opt: number, value: number): void;
  /** srt_setsockflag with a string value (passphrase, stream id). @throws SrtError */
  setString(s: SrtSocket, opt: number, value: string): void;
  /** srt_getsockflag(SRTO_STREAMID): the caller's stream id, raw bytes (at most 512). */
  streamId(s: SrtSocket): Buffer;
  /** srt_bind to an IPv4 or IPv6 address, then srt_listen. @throws SrtError */
  bindListen(s: SrtSocket, host: string, port: number, backlog: number): void;
  /** srt_getsockname: the bound port. */
  localPort(s: SrtSocket): number;
  /** srt_accept: the new socket and the peer's sockaddr bytes, or undefined when none is pending. @throws SrtError on other errors */
  accept(listener: SrtSocket): { socket: SrtSocket; peer: Buffer } | undefined;
  /** srt_recvmsg into `buf`: bytes read, 0 when nothing is ready, -1 when the connection is broken or closed. */
  recv(s: SrtSocket, buf: Buffer): number;
  /** srt_close (errors ignored: the socket is gone either way). */
  close(s: SrtSocket): void;
  /** srt_epoll_create. @throws SrtError */
  epollCreate(): number;
  /** srt_epoll_add_usock. @throws SrtError */
  epollAdd(eid: number, s: SrtSocket, events: number): void;
  /** srt_epoll_remove_usock (errors ignored). */
  epollRemove(eid: number, s: SrtSocket): void;
  /** srt_epoll_uwait with a 0 ms timeout: ready sockets and their event flags. */
  epollPoll(eid: number): Array<{ socket: SrtSocket; events: number }>;
  /** srt_epoll_release. */
  epollRelease(eid: number): void;
  /** srt_bstats without clearing. */
  receiveStats(s: SrtSocket): SrtReceiveStats | undefined;
}

let loaded: Libsrt | undefined;

/**
 * Loads libsrt (first of `candidates` that opens) and calls srt_startup once per process.
 * @throws SrtError naming the candidates when none can be opened.
 */
export function loadLibsrt(candidates: readonly string[] = LIBSRT_CANDIDATES): Libsrt {
  if (loaded) return loaded;
  let lib: koffi.IKoffiLib | undefined;
  const errors: string[] = [];
  for (const name of candidates) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      errors.push(`${name}: ${(err as Error).message}`);
    }
  }
  if (!lib) throw new SrtError(`libsrt could not be loaded (install Debian's libsrt1.5-gnutls): ${errors.join('; ')}`);
  loaded = bind(lib);
  return loaded;
}

const LOG_CRIT = 2; // syslog level, as srt_setloglevel takes it
const EVENT_SIZE = 8; // SRT_EPOLL_EVENT { SRTSOCKET fd; int events; }
const MAX_EVENTS = 256;
const BSTATS_SIZE = 4096; // larger than SRT_TRACEBSTATS of any 1.x release

function bind(lib: koffi.IKoffiLib): Libsrt {
  const f = {
    startup: lib.func('int srt_startup()'),
    createSocket: lib.func('int srt_create_socket()'),
    setsockflag: lib.func('int srt_setsockflag(int u, int opt, const void *optval, int optlen)'),
    getsockflag: lib.func('int srt_getsockflag(int u, int opt, _Out_ void *optval, _Inout_ int *optlen)'),
    bind: lib.func('int srt_bind(int u, const void *name, int namelen)'),
    listen: lib.func('int srt_listen(int u, int backlog)'),
    getsockname: lib.func('int srt_getsockname(int u, _Out_ void *name, _Inout_ int *namelen)'),
    accept: lib.func('int srt_accept(int u, _Out_ void *addr, _Inout_ int *addrlen)'),
    recvmsg: lib.func('int srt_recvmsg(int u, _Out_ void *buf, int len)'),
    close: lib.func('int srt_close(int u)'),
    epollCreate: lib.func('int srt_epoll_create()'),
    epollAdd: lib.func('int srt_epoll_add_usock(int eid, int u, const int *events)'),
    epollRemove: lib.func('int srt_epoll_remove_usock(int eid, int u)'),
    epollUwait: lib.func('int srt_epoll_uwait(int eid, _Out_ void *fdsSet, int fdsSize, int64_t msTimeOut)'),
    epollRelease: lib.func('int srt_epoll_release(int eid)'),
    bstats: lib.func('int srt_bstats(int u, _Out_ void *perf, int clear)'),
    lastError: lib.func('int srt_getlasterror(_Out_ int *errnoLoc)'),
    lastErrorStr: lib.func('const char *srt_getlasterror_str()'),
    clearLastError: lib.func('void srt_clearlasterror()'),
    setLogLevel: lib.func('void srt_setloglevel(int ll)'),
  };
  const fail = (what: string): never => {
    const code = f.lastError(null) as number;
    throw new SrtError(`${what}: ${f.lastErrorStr() as string}`, code);
  };
  const check = (rc: number, what: string) => (rc < 0 ? fail(what) : rc);
  if ((f.startup() as number) < 0) fail('srt_startup');
  f.setLogLevel(LOG_CRIT); // libsrt logs to stderr; the listener logs what matters through pino
  const events = Buffer.alloc(EVENT_SIZE * MAX_EVENTS);
  const stats = Buffer.alloc(BSTATS_SIZE);
  const intBuf = Buffer.alloc(4);
  const setInt = (s: SrtSocket, opt: number, value: number) => {
    intBuf.writeInt32LE(value);
    check(f.setsockflag(s, opt, intBuf, 4) as number, `srt_setsockflag(${opt})`);
  };
  return {
    createSocket() {
      const s = check(f.createSocket() as number, 'srt_create_socket');
      setInt(s, SRTO.RCVSYN, 0);
      setInt(s, SRTO.SNDSYN, 0);
      return s;
    },
    setInt,
    setString(s, opt, value) {
      const b = Buffer.from(value, 'utf8');
      check(f.setsockflag(s, opt, b, b.length) as number, `srt_setsockflag(${opt})`);
    },
    streamId(s) {
      const buf = Buffer.alloc(513);
      const len = [buf.length];
      if ((f.getsockflag(s, SRTO.STREAMID, buf, len) as number) < 0) return Buffer.alloc(0);
      return buf.subarray(0, Math.min(len[0]!, 512));
    },
    bindListen(s, host, port, backlog) {
      const addr = sockaddrOf(host, port);
      check(f.bind(s, addr, addr.length) as number, `srt_bind(${host}:${port})`);
      check(f.listen(s, backlog) as number, 'srt_listen');
    },
    localPort(s) {
      const buf = Buffer.alloc(128);
      const len = [buf.length];
      check(f.getsockname(s, buf, len) as number, 'srt_getsockname');
      return buf.readUInt16BE(2);
    },
    accept(listener) {
      const peer = Buffer.alloc(128);
      const len = [peer.length];
      const s = f.accept(listener, peer, len) as number;
      if (s >= 0) return { socket: s, peer: peer.subarray(0, len[0]) };
      const code = f.lastError(null) as number;
      f.clearLastError();
      if (code === SRT_EASYNCRCV) return undefined;
      throw new SrtError(`srt_accept: ${f.lastErrorStr() as string}`, code);
    },
    recv(s, buf) {
      const n = f.recvmsg(s, buf, buf.length) as number;
      if (n >= 0) return n;
      const code = f.lastError(null) as number;
      f.clearLastError();
      return code === SRT_EASYNCRCV ? 0 : -1;
    },
    close(s) {
      f.close(s);
    },
    epollCreate: () => check(f.epollCreate() as number, 'srt_epoll_create'),
    epollAdd(eid, s, ev) {
      check(f.epollAdd(eid, s, [ev]) as number, 'srt_epoll_add_usock');
    },
    epollRemove(eid, s) {
      f.epollRemove(eid, s);
    },
    epollPoll(eid) {
      const n = f.epollUwait(eid, events, MAX_EVENTS, 0) as number;
      if (n <= 0) {
        f.clearLastError();
        return [];
      }
      const out: Array<{ socket: SrtSocket; events: number }> = [];
      for (let i = 0; i < Math.min(n, MAX_EVENTS); i++) out.push({ socket: events.readInt32LE(i * EVENT_SIZE), events: events.readInt32LE(i * EVENT_SIZE + 4) });
      return out;
    },
    epollRelease(eid) {
      f.epollRelease(eid);
    },
    receiveStats(s) {
      if ((f.bstats(s, stats, 0) as number) < 0) {
        f.clearLastError();
        return undefined;
      }
      // CBytePerfMon: int64 msTimeStamp, int64 pktSentTotal, int64 pktRecvTotal, int pktSndLossTotal,
      // int pktRcvLossTotal, … int64 usSndDurationTotal (at 56), int pktSndDropTotal, int pktRcvDropTotal.
      return { packetsReceived: Number(stats.readBigInt64LE(16)), packetsLost: stats.readInt32LE(28), packetsDropped: stats.readInt32LE(68) };
    },
  };
}

/**
 * A `sockaddr_in` or `sockaddr_in6` (Linux layout: family in host order, port and address in
 * network order) for an IPv4 or IPv6 literal.
 * @throws SrtError for a host that is not an IP literal.
 */
export function sockaddrOf(host: string, port: number): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(2, 0); // AF_INET
    b.writeUInt16BE(port, 2);
    for (let i = 0; i < 4; i++) b[4 + i] = Number(v4[i + 1]);
    return b;
  }
  if (host === '::' || host.includes(':')) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(10, 0); // AF_INET6
    b.writeUInt16BE(port, 2);
    ipv6Bytes(host).copy(b, 8);
    return b;
  }
  throw new SrtError(`the SRT listener needs an IP address to bind, not ${JSON.stringify(host)}`);
}

function ipv6Bytes(host: string): Buffer {
  const [head = '', tail] = host.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) throw new SrtError(`not an IPv6 address: ${host}`);
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/**
 * The address of a peer's `sockaddr_in`/`sockaddr_in6` bytes (as srt_accept fills them): dotted
 * IPv4, IPv4-mapped IPv6 as IPv4, other IPv6 in lower-case hex groups (not compressed).
 * Returns undefined for another family or a short buffer.
 */
export function addressOfSockaddr(b: Buffer): string | undefined {
  if (b.length < 8) return undefined;
  const family = b.readUInt16LE(0);
  if (family === 2) return `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
  if (family !== 10 || b.length < 24) return undefined;
  const a = b.subarray(8, 24);
  if (a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(a.readUInt16BE(i).toString(16));
  return groups.join(':');
}
