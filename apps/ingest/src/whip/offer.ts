/**
 * Checks of a WHIP publisher's and a WHEP viewer's SDP offer (RFC 9725 §4.2, the WHEP draft
 * §4.2; SDP per RFC 8866, WebRTC's JSEP per RFC 8829) before a peer connection is built from it:
 * pure, so every refusal has a clear code. Both directions carry H.264 video (RFC 6184,
 * `packetization-mode=1`, whatever profile the offer gives) and Opus audio (RFC 7587); video is
 * required (the ladder is made from it, and WHEP forwards the source's), audio is optional.
 */

/** Why an offer is refused: `SDP_MALFORMED` (HTTP 400) or `SDP_UNSUPPORTED_CODEC` (HTTP 406). */
export type WhipOfferErrorCode = 'SDP_MALFORMED' | 'SDP_UNSUPPORTED_CODEC';

/** Result of {@link checkWhipOffer} and {@link checkWhepOffer}. */
export type WhipOfferCheck =
  | { readonly ok: true; readonly video: true; readonly audio: boolean }
  | { readonly ok: false; readonly code: WhipOfferErrorCode; readonly message: string };

/** One `m=` section: its media, and the rtpmap/fmtp lines by payload type. */
interface MediaSection {
  readonly media: string;
  readonly payloadTypes: readonly string[];
  readonly direction: string | undefined;
  readonly rtpmap: Map<string, string>;
  readonly fmtp: Map<string, string>;
}

const LINE = /^[a-z]=/;
const M_LINE = /^m=(\w+) \d+(?:\/\d+)? [\w/]+((?: \S+)+)$/;

function malformed(message: string): { readonly ok: false; readonly code: 'SDP_MALFORMED'; readonly message: string } {
  return { ok: false, code: 'SDP_MALFORMED', message };
}

/** A parsed offer's media sections, or why it is malformed. */
type ParsedOffer = { readonly ok: true; readonly sections: readonly MediaSection[] } | { readonly ok: false; readonly code: 'SDP_MALFORMED'; readonly message: string };

/**
 * Parses `sdp` as far as the checks need: an SDP (`v=0` first, `<type>=<value>` lines), at least
 * one media section, ICE credentials (`a=ice-ufrag`, `a=ice-pwd`) and a DTLS `a=fingerprint`
 * (session or media level). Never throws.
 */
function parseOffer(sdp: string): ParsedOffer {
  const lines = sdp.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0] !== 'v=0') return malformed('An SDP offer starts with "v=0".');
  const bad = lines.find((l) => !LINE.test(l));
  if (bad !== undefined) return malformed(`Not an SDP line: ${JSON.stringify(bad.slice(0, 60))}.`);
  const sections: MediaSection[] = [];
  let session = { ufrag: false, pwd: false, fingerprint: false };
  const media: Array<typeof session> = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const m = M_LINE.exec(line);
      if (!m) return malformed(`Malformed media line: ${JSON.stringify(line.slice(0, 60))}.`);
      sections.push({ media: m[1]!, payloadTypes: m[2]!.trim().split(' '), direction: undefined, rtpmap: new Map(), fmtp: new Map() });
      media.push({ ufrag: false, pwd: false, fingerprint: false });
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const target = media.length ? media[media.length - 1]! : session;
    if (line.startsWith('a=ice-ufrag:')) target.ufrag = true;
    else if (line.startsWith('a=ice-pwd:')) target.pwd = true;
    else if (line.startsWith('a=fingerprint:')) target.fingerprint = true;
    const section = sections[sections.length - 1];
    if (!section) continue;
    const attr = /^a=(rtpmap|fmtp):(\d+) (.*)$/.exec(line);
    if (attr) section[attr[1] as 'rtpmap' | 'fmtp'].set(attr[2]!, attr[3]!);
    else if (/^a=(sendonly|sendrecv|recvonly|inactive)$/.test(line)) (section as { direction: string | undefined }).direction = line.slice(2);
  }
  if (!sections.length) return malformed('The offer has no media section.');
  const has = (k: keyof typeof session) => session[k] || media.every((m) => m[k]);
  if (!has('ufrag') || !has('pwd')) return malformed('The offer has no ICE credentials (a=ice-ufrag, a=ice-pwd).');
  if (!has('fingerprint')) return malformed('The offer has no DTLS fingerprint (a=fingerprint).');
  return { ok: true, sections };
}

const isOpus = (s: MediaSection, pt: string) => /^opus\/48000(\/2)?$/i.test(s.rtpmap.get(pt) ?? '');

/**
 * The codec checks shared by both directions: the sections whose direction is `directions` (or
 * unset) must hold H.264 with `packetization-mode=1` video (else SDP_UNSUPPORTED_CODEC with
 * `noVideo`); `audio` tells whether one of them holds Opus/48000/2.
 */
function checkCodecs(sdp: string, directions: readonly string[], noVideo: string): WhipOfferCheck {
  const parsed = parseOffer(sdp);
  if (!parsed.ok) return parsed;
  const media = parsed.sections.filter((s) => s.direction === undefined || directions.includes(s.direction));
  const video = media.some((s) => s.media === 'video' && s.payloadTypes.some((pt) => isH264(s, pt)));
  if (!video) return { ok: false, code: 'SDP_UNSUPPORTED_CODEC', message: noVideo };
  const audio = media.some((s) => s.media === 'audio' && s.payloadTypes.some((pt) => isOpus(s, pt)));
  return { ok: true, video, audio };
}

/**
 * Checks `sdp`, a WHIP offer (see {@link parseOffer} for the SDP checks): a sending video section
 * (`sendonly`/`sendrecv`) offering H.264 with `packetization-mode=1`; `audio` tells whether a
 * sending audio section offers Opus/48000/2. Never throws.
 */
export function checkWhipOffer(sdp: string): WhipOfferCheck {
  return checkCodecs(sdp, ['sendonly', 'sendrecv'], 'The offer sends no H.264 video with packetization-mode=1 (Opus audio is optional).');
}

/**
 * Checks `sdp`, a WHEP viewer's offer (the WHEP draft §4.2; SDP checks of {@link parseOffer}): a
 * receiving video section (`recvonly`/`sendrecv`) that accepts H.264 with `packetization-mode=1`
 * (the source rendition is forwarded as is, so no other codec will do); `audio` tells whether a
 * receiving audio section accepts Opus/48000/2. Never throws.
 */
export function checkWhepOffer(sdp: string): WhipOfferCheck {
  return checkCodecs(sdp, ['recvonly', 'sendrecv'], 'The offer receives no H.264 video with packetization-mode=1 (the source rendition is forwarded without re-encoding).');
}

function isH264(s: MediaSection, pt: string): boolean {
  if (!/^H264\/90000$/i.test(s.rtpmap.get(pt) ?? '')) return false;
  return /(^|;)\s*packetization-mode=1(;|$)/.test(s.fmtp.get(pt) ?? '');
}
