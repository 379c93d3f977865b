import { ApiError } from './errors.js';

// Lone UTF-16 surrogates (JSON `"\ud800"` parses into one), C0/C1 controls (except tab/newline
// when multi-line text is allowed), and invisible format characters that are abused to spoof
// names: bidi overrides/isolates (U+202A-202E, U+2066-2069), zero-width chars (U+200B-200F,
// U+2060, U+FEFF) and the Unicode "tag" block. Unicode TR 36 "Unicode Security Considerations".
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL_SINGLE_LINE = /[\u0000-\u001F\u007F-\u009F]/;
const CONTROL_MULTI_LINE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const FORMAT_SPOOFING = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]|\uDB40[\uDC00-\uDC7F]/;

/**
 * Validates and normalises user-supplied text (display names, titles, bios): NFC (Unicode
 * UAX #15), trimmed; refuses lone surrogates, control characters and invisible
 * spoofing characters. Length is counted in code points after normalisation.
 * @param field the field's name, for the error message.
 * @throws ApiError VALIDATION_FAILED naming the field and the rule broken.
 */
export function cleanText(input: string, field: string, opts: { min?: number; max: number; multiline?: boolean }): string {
  if (LONE_SURROGATE.test(input)) throw new ApiError('VALIDATION_FAILED', `${field} contains an unpaired UTF-16 surrogate`);
  const text = input.normalize('NFC').trim();
  if ((opts.multiline ? CONTROL_MULTI_LINE : CONTROL_SINGLE_LINE).test(text)) throw new ApiError('VALIDATION_FAILED', `${field} contains control characters`);
  if (FORMAT_SPOOFING.test(text)) throw new ApiError('VALIDATION_FAILED', `${field} contains invisible formatting characters`);
  const length = [...text].length;
  if (length < (opts.min ?? 0)) throw new ApiError('VALIDATION_FAILED', `${field} must be at least ${opts.min} characters`);
  if (length > opts.max) throw new ApiError('VALIDATION_FAILED', `${field} must be at most ${opts.max} characters`);
  return text;
}
