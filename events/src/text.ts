// Lone UTF-16 surrogates (JSON `"\ud800"` parses into one), C0/C1 controls (except tab/newline
// when multi-line text is allowed), and invisible format characters that are abused to spoof
// names: bidi overrides/isolates (U+202A-202E, U+2066-2069), zero-width chars (U+200B-200F,
// U+2060, U+FEFF) and the Unicode "tag" block. Unicode TR 36 "Unicode Security Considerations".
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL_SINGLE_LINE = /[\u0000-\u001F\u007F-\u009F]/;
const CONTROL_MULTI_LINE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const FORMAT_SPOOFING = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]|\uDB40[\uDC00-\uDC7F]/;

/** Which rule a text broke (see {@link checkText}). */
export type TextProblem = 'surrogate' | 'control' | 'format' | 'too_short' | 'too_long';

/** Result of {@link checkText}: the cleaned text, or the rule broken with a sentence naming `field`. */
export type TextCheck =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly problem: TextProblem; readonly message: string };

/**
 * Validates and normalises user-supplied text (display names, titles, chat messages): NFC
 * (Unicode UAX #15), trimmed; refuses lone surrogates (text that was not valid UTF-16, i.e. came
 * from invalid UTF-8 or a `\ud800` escape), control characters and invisible spoofing
 * characters. Length is counted in code points after normalisation. Never throws.
 * @param field the field's name, for the message.
 */
export function checkText(input: string, field: string, opts: { min?: number; max: number; multiline?: boolean }): TextCheck {
  if (LONE_SURROGATE.test(input)) return { ok: false, problem: 'surrogate', message: `${field} contains an unpaired UTF-16 surrogate` };
  const text = input.normalize('NFC').trim();
  if ((opts.multiline ? CONTROL_MULTI_LINE : CONTROL_SINGLE_LINE).test(text)) return { ok: false, problem: 'control', message: `${field} contains control characters` };
  if (FORMAT_SPOOFING.test(text)) return { ok: false, problem: 'format', message: `${field} contains invisible formatting characters` };
  let length = 0;
  for (const _ of text) length += 1;
  if (length < (opts.min ?? 0)) return { ok: false, problem: 'too_short', message: `${field} must be at least ${opts.min} characters` };
  if (length > opts.max) return { ok: false, problem: 'too_long', message: `${field} must be at most ${opts.max} characters` };
  return { ok: true, text };
}
